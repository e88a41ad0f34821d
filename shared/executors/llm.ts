import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { fetch as undiciFetch } from 'undici';
import { z } from 'zod';
import { createAddressPolicy } from '#shared/domain/addresses';
import { llmCostUsd } from '#shared/domain/llm-prices';
import { llmTotals, type LlmUsageRecord } from '#shared/domain/llm-usage';
import { parseRetryAfter } from '#shared/domain/retry';
import { NonRetryableStepError, RetryableStepError, StepError, type StepErrorDetails } from '#shared/domain/step-errors';
import { MissingTemplateValueError, renderTemplate } from '#shared/domain/templates';
import { clip } from '#shared/executors/agent-reply';
import { assertAllowed, causeChain, createDispatchers, type HttpFetch, type ResolveHost } from '#shared/executors/http';
import { readBoundedText } from '#shared/executors/read-bounded-text';
import { llmKind, validatorOf, type LlmInput } from '#shared/executors/llm-input';
import type { Executor, StepContext, StepOutcome } from '#shared/executors/types';

/**
 * `llm`: one model call, on Bedrock (Converse) or on any OpenAI-compatible server
 * (`POST {baseUrl}/v1/chat/completions`: OpenAI, Ollama, vLLM, LiteLLM). The prompt may refer to
 * the run input and the dependencies' outputs (shared/domain/templates.ts). Every call leaves a
 * usage record (provider, model, tokens, latency, cost), also when its reply is then refused.
 *
 * With `json`, the reply must be JSON (and match the schema when one is given, checked with Ajv);
 * one that is not is retryable (models answer differently the next time), and after the last
 * attempt the step fails with LLM_INVALID_JSON or LLM_SCHEMA_MISMATCH.
 */

/** Re-exported for the executor's tests (the schema lives in the kind's validation half, llm-input.ts). */
export { llmInput, type LlmInput } from '#shared/executors/llm-input';

/** The call as both providers take it, templates rendered. */
interface ChatRequest {
  model: string;
  system?: string;
  messages: Array<{ role: 'user' | 'assistant'; content: string }>;
  maxTokens: number;
  temperature?: number;
}

/** What a provider answered: the text, why it stopped, and the token counts. */
interface ChatReply {
  text: string;
  stopReason: string;
  inputTokens: number;
  outputTokens: number;
}

/** The slice of Bedrock's Converse the executor uses (the engine passes the SDK client's). */
export type Converse = (
  request: {
    modelId: string;
    messages: Array<{ role: 'user' | 'assistant'; content: Array<{ text: string }> }>;
    system?: Array<{ text: string }>;
    inferenceConfig: { maxTokens: number; temperature?: number };
  },
  options: { abortSignal: AbortSignal },
) => Promise<{
  output?: { message?: { content?: Array<{ text?: string }> } };
  stopReason?: string;
  usage?: { inputTokens?: number; outputTokens?: number };
}>;

/** Dependencies of the llm executor; the engine passes real ones, tests fakes. */
export interface LlmExecutorDeps {
  converse: Converse;
  /** undici's fetch: its dispatcher's lookup is where the address is checked. */
  fetch?: HttpFetch;
  resolveHost?: ResolveHost;
  now?: () => Date;
  /** Replies above this are refused rather than buffered into the worker's memory. */
  maxReplyBytes?: number;
}

export const defaultOpenAiBaseUrl = 'https://api.openai.com';

/** Builds the llm executor. */
export const createLlmExecutor = ({
  converse,
  fetch: fetchImpl = undiciFetch,
  resolveHost = (hostname) => dnsLookup(hostname, { all: true }),
  now = () => new Date(),
  maxReplyBytes = 10 * 1024 * 1024,
}: LlmExecutorDeps): Executor<LlmInput> => {
  // The http executor's guarded connections: the address checked is the address connected to.
  const dispatchers = createDispatchers(resolveHost);
  return {
    ...llmKind,
    async run(input, context) {
      const request = renderRequest(input, context);
      const prices = context.projectSettings.llmPrices;
      const signal = AbortSignal.any([context.signal, AbortSignal.timeout(Math.max(1, Math.floor(context.deadlineMs)))]);
      const startedAt = now();
      const reply =
        input.provider === 'bedrock'
          ? await callBedrock(converse, request, signal)
          : await callOpenAi({ input, request, context, signal, fetchImpl, dispatchers, now, maxReplyBytes });
      const endedAt = now();
      const record: LlmUsageRecord = {
        provider: input.provider,
        model: input.model,
        inputTokens: reply.inputTokens,
        outputTokens: reply.outputTokens,
        totalTokens: reply.inputTokens + reply.outputTokens,
        latencyMs: endedAt.getTime() - startedAt.getTime(),
        costUsd: llmCostUsd({ model: input.model, inputTokens: reply.inputTokens, outputTokens: reply.outputTokens }, prices),
        startedAt: startedAt.toISOString(),
        endedAt: endedAt.toISOString(),
      };
      const output = input.json === undefined ? { text: reply.text, stopReason: reply.stopReason } : { text: reply.text, json: parseJsonReply(reply, input.json, record), stopReason: reply.stopReason };
      return { status: 'completed', output, usage: { ...llmTotals([record]), llm: [record] } } satisfies StepOutcome;
    },
  };
};

/** Renders the templates; a reference without a value fails the step for good (retrying finds the same values). */
const renderRequest = (input: LlmInput, context: StepContext): ChatRequest => {
  const values = { runInput: context.runInput, dependencies: context.dependencyOutputs };
  const render = (field: string, text: string) => {
    try {
      return renderTemplate(text, values);
    } catch (error) {
      if (error instanceof MissingTemplateValueError) throw new NonRetryableStepError(`${field}: ${error.message}`, { code: 'TEMPLATE_MISSING_VALUE' });
      throw error;
    }
  };
  const instruction = jsonInstruction(input.json);
  const system = [input.system === undefined ? undefined : render('system', input.system), instruction].filter((part) => part !== undefined).join('\n\n');
  return {
    model: input.model,
    ...(system ? { system } : {}),
    messages: input.prompt !== undefined
      ? [{ role: 'user', content: render('prompt', input.prompt) }]
      : input.messages!.map((message, index) => ({ role: message.role, content: render(`messages[${index}].content`, message.content) })),
    maxTokens: input.maxTokens,
    ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
  };
};

/**
 * Told in the system prompt for both providers: Converse has no JSON mode, and OpenAI's JSON mode
 * refuses a conversation that does not mention JSON.
 */
const jsonInstruction = (json: LlmInput['json']): string | undefined => {
  if (json === undefined) return undefined;
  const base = 'Answer with one JSON value only: no prose, no Markdown code fences.';
  return json === true ? base : `${base} It must match this JSON Schema:\n${JSON.stringify(json)}`;
};

/** Models often fence JSON in Markdown despite being told not to: take what is inside one fence. */
const fenced = /^```[A-Za-z]*\s*\n([\s\S]*?)\n?```$/;

/** Parses (and checks) a JSON reply; a refusal carries the call's record, which was paid for. */
export const parseJsonReply = (reply: Pick<ChatReply, 'text' | 'stopReason'>, json: true | Record<string, unknown>, record?: LlmUsageRecord): unknown => {
  const trimmed = reply.text.trim();
  const body = fenced.exec(trimmed)?.[1] ?? trimmed;
  const llmUsage = record ? [record] : [];
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    const cut = reply.stopReason === 'max_tokens' || reply.stopReason === 'length' ? ' (the reply was cut at maxTokens)' : '';
    throw new RetryableStepError(`the model's reply is not JSON${cut}: ${clip(body) || 'empty reply'}`, { code: 'LLM_INVALID_JSON' }, { cause: error, llmUsage });
  }
  if (json !== true) {
    const validate = validatorOf(json);
    if (!validate(value)) {
      const issue = validate.errors?.[0];
      const where = issue?.instancePath ? issue.instancePath : 'the reply';
      throw new RetryableStepError(`the model's JSON does not match the schema: ${where} ${issue?.message ?? 'is invalid'}`, { code: 'LLM_SCHEMA_MISMATCH' }, { llmUsage });
    }
  }
  return value;
};

// --- Bedrock ---------------------------------------------------------------------------------

/** Bedrock errors that are worth another attempt (besides any 5xx, 429 and 408). */
const retryableBedrockErrors = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelTimeoutException',
  'ModelNotReadyException',
  'ModelErrorException',
]);

const callBedrock = async (converse: Converse, request: ChatRequest, signal: AbortSignal): Promise<ChatReply> => {
  try {
    const response = await converse(
      {
        modelId: request.model,
        messages: request.messages.map((message) => ({ role: message.role, content: [{ text: message.content }] })),
        ...(request.system ? { system: [{ text: request.system }] } : {}),
        inferenceConfig: { maxTokens: request.maxTokens, ...(request.temperature !== undefined ? { temperature: request.temperature } : {}) },
      },
      { abortSignal: signal },
    );
    return {
      text: (response.output?.message?.content ?? []).map((block) => block.text ?? '').join(''),
      stopReason: response.stopReason ?? 'unknown',
      inputTokens: response.usage?.inputTokens ?? 0,
      outputTokens: response.usage?.outputTokens ?? 0,
    };
  } catch (error) {
    throw bedrockFailure(error, request.model, signal);
  }
};

/** Classifies an error of the Converse call: throttles, 5xx and timeouts are retryable, other 4xx not. */
export const bedrockFailure = (error: unknown, model: string, signal?: AbortSignal): StepError => {
  if (error instanceof StepError) return error;
  const { name = 'Error', message = String(error), $metadata } = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  const details: StepErrorDetails = { code: name === 'Error' ? 'BEDROCK_ERROR' : name, ...(status ? { status } : {}) };
  const text = `Bedrock ${model}: ${name}: ${clip(message)}`;
  if (signal?.aborted || name === 'TimeoutError' || name === 'AbortError') {
    return new RetryableStepError(`Bedrock ${model} did not answer in time`, { code: 'TIMEOUT' }, { cause: error });
  }
  if (retryableBedrockErrors.has(name) || status === undefined || status === 408 || status === 429 || status >= 500) {
    // No status at all: the request never got an answer (network): worth another attempt.
    return new RetryableStepError(text, details, { cause: error });
  }
  return new NonRetryableStepError(text, details, { cause: error });
};

// --- OpenAI-compatible -------------------------------------------------------------------------

const openAiReply = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }), finish_reason: z.string().nullable().optional() })).min(1),
  usage: z.object({ prompt_tokens: z.number().int().min(0).optional(), completion_tokens: z.number().int().min(0).optional() }).nullable().optional(),
});

interface OpenAiCall {
  input: LlmInput;
  request: ChatRequest;
  context: StepContext;
  signal: AbortSignal;
  fetchImpl: HttpFetch;
  dispatchers: ReturnType<typeof createDispatchers>;
  now: () => Date;
  maxReplyBytes: number;
}

const callOpenAi = async ({ input, request, context, signal, fetchImpl, dispatchers, now, maxReplyBytes }: OpenAiCall): Promise<ChatReply> => {
  const base = new URL(input.baseUrl ?? defaultOpenAiBaseUrl);
  const target = new URL(`${base.pathname.replace(/\/+$/, '')}/v1/chat/completions`, base);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const where = `${target.origin}${target.pathname}`;
  // As for http agents: private ranges only when the project allows them (settings.allowPrivateAgents).
  const guard = context.allowPrivateTargets ? undefined : context.projectSettings.allowPrivateAgents;
  // A literal address is connected to as it is (no lookup runs): check it here.
  if (guard && isIP(host)) assertAllowed(host, host, createAddressPolicy(guard), where);
  // Resolved only now, at the call; kept out of every message below.
  const apiKey = input.apiKey ? await context.resolveSecret(input.apiKey) : undefined;
  const redact = (text: string) => (apiKey ? text.replaceAll(apiKey, '[redacted]') : text);

  const body = {
    model: request.model,
    messages: [...(request.system ? [{ role: 'system', content: request.system }] : []), ...request.messages],
    // OpenAI's newer models take only max_completion_tokens; compatible servers mostly know max_tokens.
    ...(target.hostname === 'api.openai.com' ? { max_completion_tokens: request.maxTokens } : { max_tokens: request.maxTokens }),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...responseFormat(input.json),
  };
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal,
      // A redirect could lead anywhere: never follow one.
      redirect: 'manual',
      dispatcher: dispatchers.get(guard),
    });
    text = await readBoundedText(response, maxReplyBytes, { who: `model server at ${host}`, url: where });
  } catch (error) {
    if (error instanceof StepError) throw error;
    // Refusals and DNS failures of the guarded lookup arrive as the cause of fetch's TypeError.
    const refusal = causeChain(error).find((cause): cause is StepError => cause instanceof StepError);
    if (refusal) {
      const Kind = refusal.retryable ? RetryableStepError : NonRetryableStepError;
      throw new Kind(refusal.message, { ...refusal.details, url: where }, { cause: refusal });
    }
    if (signal.aborted) throw new RetryableStepError(`model server at ${host} did not answer in time`, { code: 'TIMEOUT', url: where }, { cause: error });
    throw new RetryableStepError(`could not reach model server at ${host}: ${redact(errorCode(error))}`, { code: 'NETWORK_ERROR', url: where }, { cause: error });
  }
  if (response.status < 200 || response.status >= 300) throw openAiFailure(response, text, { host, url: where, redact, now: now() });

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = openAiReply.safeParse(json);
  if (!parsed.success) {
    // A server that answers 200 with something else is misconfigured (wrong baseUrl?): no retry helps.
    throw new NonRetryableStepError(`model server at ${host} did not answer with a chat completion (is baseUrl right?)`, { code: 'LLM_BAD_REPLY', status: response.status, url: where });
  }
  const [choice] = parsed.data.choices;
  return {
    text: choice!.message.content ?? '',
    stopReason: choice!.finish_reason ?? 'unknown',
    inputTokens: parsed.data.usage?.prompt_tokens ?? 0,
    outputTokens: parsed.data.usage?.completion_tokens ?? 0,
  };
};

const responseFormat = (json: LlmInput['json']) => {
  if (json === undefined) return {};
  if (json === true) return { response_format: { type: 'json_object' } };
  return { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: json } } };
};

/** Classifies a non-2xx answer: 408, 429 and 5xx retryable (Retry-After honoured), other statuses not. */
export const openAiFailure = (
  response: Pick<Response, 'status' | 'headers'>,
  text: string,
  { host, url, redact = (value) => value, now = new Date() }: { host: string; url: string; redact?: (text: string) => string; now?: Date },
): StepError => {
  const { status } = response;
  const said = errorMessageOf(text);
  const because = said ? `: ${clip(redact(said))}` : '';
  const details: StepErrorDetails = { status, url, code: `LLM_HTTP_${status}` };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), now);
    return new RetryableStepError(`model server at ${host} answered ${status}${because}`, { ...details, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
  }
  if (status >= 300 && status < 400) return new NonRetryableStepError(`model server at ${host} answered ${status} (a redirect); redirects are not followed`, details);
  return new NonRetryableStepError(`model server at ${host} answered ${status}${because}`, details);
};

/** OpenAI-style errors are `{error: {message}}`; others send `{error: "…"}` or plain text. */
const errorMessageOf = (text: string): string | undefined => {
  try {
    const json = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof json.error === 'string') return json.error;
    if (json.error && typeof json.error === 'object' && typeof (json.error as { message?: unknown }).message === 'string') return (json.error as { message: string }).message;
    if (typeof json.message === 'string') return json.message;
    return undefined;
  } catch {
    return text.trim() || undefined;
  }
};


const errorCode = (error: unknown): string => {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (inner instanceof Error) {
    const { code } = inner as Error & { code?: unknown };
    return typeof code === 'string' ? code : inner.message;
  }
  return String(inner);
};

