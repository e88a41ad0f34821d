import { z } from 'zod';
import type { LlmPrices } from '#shared/domain/llm-prices';
import { completeLlmRecord, llmTotals } from '#shared/domain/llm-usage';
import { NonRetryableStepError, RetryableStepError, type StepErrorDetails } from '#shared/domain/step-errors';
import type { StepArtifact, StepContext, StepOutcome, StepUsage } from '#shared/executors/types';

/**
 * The agent request (DESIGN §7), the same whichever transport carries it (`http` as the body,
 * `lambda` as the payload): who and which attempt, the step's input, its dependencies' outputs,
 * the run's input, the idempotency key (one per execution) and, for long work, the callback URLs.
 */
export const agentRequest = (input: unknown, context: StepContext) => ({
  runId: context.runId,
  stepId: context.stepId,
  attempt: context.attempt,
  idempotencyKey: context.idempotencyKey,
  input: input ?? null,
  dependencies: context.dependencyOutputs,
  runInput: context.runInput ?? null,
  ...(context.callback ? { callback: context.callback } : {}),
});

/**
 * The agent reply `{ok, data, error, code, retryable?, artifacts?, usage?}`, read the same way
 * whichever transport brought it (`http`, `lambda`, a callback).
 */

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const agentArtifact = z
  .object({
    // Artifact names become S3 key segments and download file names: no paths, no traversal.
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._ -]+$/, 'must be a plain file name (letters, digits, ".", "_", "-", spaces)')
      .refine((name) => !name.includes('..'), 'must not contain ".."'),
    contentType: z.string().min(1).max(255),
    content: z.string(),
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
  })
  .refine((artifact) => artifact.encoding !== 'base64' || base64.test(artifact.content), {
    message: 'must be valid base64',
    path: ['content'],
  });

const tokenCount = z.number().int().min(0);

/** One model call an agent made; what it leaves out is completed (cost from the price table). */
const reportedLlmCall = z.object({
  provider: z.string().min(1).max(64),
  model: z.string().min(1).max(256),
  inputTokens: tokenCount,
  outputTokens: tokenCount,
  totalTokens: tokenCount.optional(),
  latencyMs: z.number().min(0).optional(),
  costUsd: z.number().min(0).optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
  endedAt: z.iso.datetime({ offset: true }).optional(),
});

/** The JSON every agent answers with (extra keys are ignored so agents can evolve). */
export const agentReply = z.object({
  ok: z.boolean(),
  /** With `ok: true`: the work was accepted and will be reported through the callback URL. */
  pending: z.boolean().optional(),
  data: z.unknown().optional(),
  error: z.string().optional(),
  code: z.string().optional(),
  retryable: z.boolean().optional(),
  artifacts: z.array(agentArtifact).max(100).optional(),
  usage: z
    .object({
      tokens: z.object({ input: tokenCount.optional(), output: tokenCount.optional() }).optional(),
      costUsd: z.number().min(0).optional(),
      llm: z.array(reportedLlmCall).max(1000).optional(),
    })
    .optional(),
});
export type AgentReply = z.infer<typeof agentReply>;


const maxAgentTextLength = 500;

/** Agent-supplied text in messages is cut short: an error is a summary, not a log. */
export const clip = (text: string): string => (text.length > maxAgentTextLength ? `${text.slice(0, maxAgentTextLength)}…` : text);

/** Parses a reply body (text) into an AgentReply; a body that is not one fails the attempt for good. */
export const parseAgentReplyText = (text: string, details: StepErrorDetails): AgentReply => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new NonRetryableStepError(`agent reply is not the expected JSON: ${text.trim() === '' ? 'the body is empty' : 'the body is not JSON'}`, details, { cause: error });
  }
  return parseAgentReply(json, details);
};

/** Checks parsed JSON against the agent reply shape. */
export const parseAgentReply = (json: unknown, details: StepErrorDetails): AgentReply => {
  const parsed = agentReply.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new NonRetryableStepError(`agent reply is not the expected JSON: ${issue?.path.join('.') || 'reply'}: ${issue?.message ?? 'invalid'}`, details);
};

/**
 * The outcome an agent reply stands for: `ok: true` completes the step with `data` (and its
 * artifacts and usage), or leaves it pending with `pending: true` (the agent reports later
 * through its callback); `ok: false` fails the attempt, retryable only when the agent says so.
 * `who` names the agent in messages; `redact` keeps credentials out of them; `prices` (the
 * project's `llmPrices`) price reported model calls that carry no cost.
 */
export const agentReplyOutcome = (
  reply: AgentReply,
  {
    who,
    details,
    redact = (text) => text,
    prices,
    now = new Date(),
  }: { who: string; details: StepErrorDetails; redact?: (text: string) => string; prices?: LlmPrices; now?: Date },
): StepOutcome => {
  if (!reply.ok) {
    const message = clip(redact(reply.error ?? `${who} reported a failure without a reason`));
    const withCode = { ...details, ...(reply.code ? { code: reply.code } : {}) };
    throw reply.retryable ? new RetryableStepError(message, withCode) : new NonRetryableStepError(message, withCode);
  }
  if (reply.pending) return { status: 'pending', ...(reply.usage ? { usage: stepUsageOf(reply.usage, prices, now) } : {}) };
  return {
    status: 'completed',
    output: reply.data ?? null,
    ...(reply.artifacts ? { artifacts: reply.artifacts.map(toStepArtifact) } : {}),
    ...(reply.usage ? { usage: stepUsageOf(reply.usage, prices, now) } : {}),
  };
};

/** The reply's usage with its calls completed; token and cost totals from the calls when the agent gave none. */
const stepUsageOf = ({ llm, ...totals }: NonNullable<AgentReply['usage']>, prices: LlmPrices | undefined, now: Date): StepUsage => {
  if (!llm) return totals;
  const records = llm.map((call) => completeLlmRecord(call, prices, now));
  const summed = llmTotals(records);
  return { tokens: totals.tokens ?? summed.tokens, costUsd: totals.costUsd ?? summed.costUsd, llm: records };
};

const toStepArtifact = ({ name, contentType, content, encoding }: NonNullable<AgentReply['artifacts']>[number]): StepArtifact => ({
  name,
  contentType,
  body: encoding === 'base64' ? new Uint8Array(Buffer.from(content, 'base64')) : content,
});
