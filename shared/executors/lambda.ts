import { z } from 'zod';
import type { LlmPrices } from '#shared/domain/llm-prices';
import { NonRetryableStepError, RetryableStepError, StepError, type StepErrorDetails } from '#shared/domain/step-errors';
import { agentReplyOutcome, agentRequest, clip, parseAgentReply } from '#shared/executors/agent-reply';
import type { Executor, StepKind, StepOutcome } from '#shared/executors/types';

/**
 * `lambda`: invokes a user's function (the AWS-native agent) with the agent request and reads
 * its reply as `http` does. Only functions the deployment allows may be invoked: the worker
 * checks the ARN against the allowed patterns before calling, and its IAM policy grants exactly
 * those (infra/stacks/engine-stack.ts), so a refusal is a clear step error rather than an
 * AccessDenied from Lambda.
 */

/** The functions every deployment may invoke, in its own account and region (a name pattern). */
export const defaultAgentFunctions = 'baton-agent-*';

const functionName = /^[A-Za-z0-9_-]{1,64}$/;
const functionArn = /^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,64})(?::(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;
const qualifierPattern = /^(\$LATEST|[A-Za-z0-9_-]{1,128})$/;

/** What a `lambda` step's input must look like. */
export const lambdaInput = z
  .strictObject({
    function: z
      .string()
      .max(256)
      .refine((value) => functionName.test(value) || functionArn.test(value), 'must be a function name (e.g. baton-agent-review) or a Lambda function ARN'),
    payload: z.unknown().optional(),
    qualifier: z.string().regex(qualifierPattern, 'must be a version number, an alias name or $LATEST').optional(),
  })
  .superRefine((input, context) => {
    if (input.qualifier !== undefined && functionArn.exec(input.function)?.[5] !== undefined) {
      context.addIssue({ code: 'custom', path: ['qualifier'], message: 'the function ARN already names a version or alias: give it in one place only' });
    }
  });
export type LambdaInput = z.infer<typeof lambdaInput>;

/**
 * The `lambda` kind as validation sees it. This file stays light (no SDK: the invoker comes in
 * through createLambdaExecutor), so validation imports the kind from here.
 */
export const lambdaKind: StepKind<LambdaInput> = { kind: 'lambda', input: lambdaInput };

/** The function a step names, as an ARN (a bare name is in the worker's own account and region). */
export interface ResolvedFunction {
  /** `arn:…:function:<name>` */
  arn: string;
  qualifier?: string;
  /** The ARN with its qualifier, as IAM sees a qualified invocation. */
  qualifiedArn: string;
}

/** Turns the step's `function` (and `qualifier`) into an ARN; `arnPrefix` is `arn:<partition>:lambda:<region>:<account>:function:`. */
export const resolveFunction = (input: Pick<LambdaInput, 'function' | 'qualifier'>, arnPrefix: string): ResolvedFunction => {
  const match = functionArn.exec(input.function);
  const arn = match ? `arn:${match[1]}:lambda:${match[2]}:${match[3]}:function:${match[4]}` : `${arnPrefix}${input.function}`;
  const qualifier = match?.[5] ?? input.qualifier;
  return { arn, ...(qualifier ? { qualifier } : {}), qualifiedArn: qualifier ? `${arn}:${qualifier}` : arn };
};

/** An IAM-style ARN pattern (`*` any run of characters, `?` one) as a whole-string regex. */
const globRegex = (pattern: string): RegExp =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);

/**
 * Whether a function may be invoked: its ARN, or its qualified ARN, matches one of the patterns
 * (the same ones the IAM policy grants, each with its qualifiers).
 */
export const isFunctionAllowed = (target: ResolvedFunction, patterns: readonly string[]): boolean =>
  patterns.some((pattern) => {
    const regex = globRegex(pattern);
    return regex.test(target.arn) || regex.test(target.qualifiedArn);
  });

/** The part of Lambda's Invoke the executor uses (the real one is the SDK client's, see createEngine). */
export type InvokeFunction = (
  request: { FunctionName: string; Qualifier?: string; Payload: Uint8Array },
  signal: AbortSignal,
) => Promise<{ StatusCode?: number; FunctionError?: string; Payload?: Uint8Array }>;

export interface LambdaExecutorDeps {
  invoke: InvokeFunction;
  /** `arn:<partition>:lambda:<region>:<account>:function:`: where a bare function name lives. */
  functionArnPrefix: string;
  /** ARN patterns the worker may invoke (`…:function:baton-agent-*` and any `-c agentFunctions`). */
  allowedFunctions: readonly string[];
}

/** Builds the lambda executor. */
export const createLambdaExecutor = ({ invoke, functionArnPrefix, allowedFunctions }: LambdaExecutorDeps): Executor<LambdaInput> => ({
  ...lambdaKind,
  async run(input, context) {
    const target = resolveFunction(input, functionArnPrefix);
    const who = `function ${target.qualifiedArn}`;
    if (!isFunctionAllowed(target, allowedFunctions)) {
      throw new NonRetryableStepError(
        `${who} is not allowed: the worker invokes only functions named ${defaultAgentFunctions} in its own account and region; ` +
          'deploy with -c agentFunctions=<arn,…> to allow others',
        { code: 'FUNCTION_NOT_ALLOWED' },
      );
    }
    const timeoutMs = Math.max(0, Math.floor(context.deadlineMs));
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    let response: Awaited<ReturnType<InvokeFunction>>;
    try {
      response = await invoke(
        {
          FunctionName: target.arn,
          ...(target.qualifier ? { Qualifier: target.qualifier } : {}),
          Payload: new TextEncoder().encode(JSON.stringify(agentRequest(input.payload, context))),
        },
        signal,
      );
    } catch (error) {
      throw failureOf(error, who, { timedOut: timeout.aborted, aborted: context.signal.aborted, timeoutMs });
    }
    return outcomeOf(response, who, context.projectSettings.llmPrices);
  },
});

const isAgentShaped = (json: unknown): boolean =>
  typeof json === 'object' && json !== null && !Array.isArray(json) && typeof (json as { ok?: unknown }).ok === 'boolean';

const outcomeOf = (response: Awaited<ReturnType<InvokeFunction>>, who: string, prices: LlmPrices): StepOutcome => {
  const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
  const json = parseJson(text);
  if (response.FunctionError) throw functionErrorOf(response.FunctionError, json, who);
  if (json === undefined) {
    throw new NonRetryableStepError(`${who} returned a reply that is not JSON`, { code: 'INVALID_REPLY' });
  }
  const details: StepErrorDetails = {};
  // Agent-shaped replies (a boolean `ok`) are read exactly as for http; any other JSON is the output.
  if (isAgentShaped(json)) return agentReplyOutcome(parseAgentReply(json, details), { who, details, prices });
  return { status: 'completed', output: json };
};

const parseJson = (text: string): unknown => {
  // A handler that returns nothing answers `null`; an empty payload means the same.
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * The function threw (or Lambda failed it: out of memory, its own timeout). Retryable, as a
 * crash usually is, unless its error payload says `retryable: false`.
 */
const functionErrorOf = (functionError: string, json: unknown, who: string): StepError => {
  const payload = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const type = typeof payload.errorType === 'string' ? payload.errorType : functionError;
  const said = typeof payload.errorMessage === 'string' ? payload.errorMessage : typeof payload.error === 'string' ? payload.error : '';
  const message = `${who} failed (${type})${said ? `: ${clip(said)}` : ''}`;
  const details = { code: typeof payload.code === 'string' ? payload.code : 'FUNCTION_ERROR' };
  return payload.retryable === false ? new NonRetryableStepError(message, details) : new RetryableStepError(message, details);
};

interface SdkError {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  retryAfterSeconds?: string;
}

/** Lambda's own refusals and failures, classified for the retry policy. */
const failureOf = (
  error: unknown,
  who: string,
  { timedOut, aborted, timeoutMs }: { timedOut: boolean; aborted: boolean; timeoutMs: number },
): StepError => {
  if (error instanceof StepError) return error;
  if (timedOut) return new RetryableStepError(`${who} did not answer within ${timeoutMs / 1000}s`, { code: 'TIMEOUT' }, { cause: error });
  if (aborted) return new RetryableStepError(`invocation of ${who} was aborted`, { code: 'ABORTED' }, { cause: error });
  const sdk = (typeof error === 'object' && error !== null ? error : {}) as SdkError;
  const name = sdk.name ?? 'Error';
  const because = `${name}${sdk.message ? `: ${clip(sdk.message)}` : ''}`;
  const status = sdk.$metadata?.httpStatusCode;
  if (name === 'TooManyRequestsException' || status === 429) {
    const retryAfterSeconds = Number(sdk.retryAfterSeconds);
    return new RetryableStepError(`Lambda throttled the invocation of ${who}: ${because}`, {
      code: 'THROTTLED',
      ...(Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? { retryAfterSeconds } : {}),
    }, { cause: error });
  }
  if (name === 'ResourceNotFoundException') {
    return new NonRetryableStepError(`${who} does not exist (or has no such version or alias)`, { code: 'FUNCTION_NOT_FOUND' }, { cause: error });
  }
  // A function being created or updated, or Lambda's own trouble: it passes.
  if (name === 'ResourceNotReadyException' || name === 'ResourceConflictException' || sdk.$fault === 'server' || (status !== undefined && status >= 500)) {
    return new RetryableStepError(`could not invoke ${who}: ${because}`, { code: 'LAMBDA_UNAVAILABLE' }, { cause: error });
  }
  // Refused by Lambda (access denied, payload too large, invalid request): trying again cannot help.
  if (sdk.$fault === 'client' || status !== undefined) {
    return new NonRetryableStepError(`Lambda refused to invoke ${who}: ${because}`, { code: 'INVOKE_REFUSED' }, { cause: error });
  }
  return new RetryableStepError(`could not reach Lambda to invoke ${who}: ${because}`, { code: 'NETWORK_ERROR' }, { cause: error });
};
