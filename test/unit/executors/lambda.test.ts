import { describe, expect, it } from 'vitest';
import { StepError } from '#shared/domain/step-errors';
import { createLambdaExecutor, isFunctionAllowed, lambdaInput, resolveFunction, type InvokeFunction } from '#shared/executors/lambda';
import type { StepContext } from '#shared/executors/types';
import { stepContext } from '#test/fixtures/step-context';

const prefix = 'arn:aws:lambda:eu-west-1:111122223333:function:';
const defaultPattern = `${prefix}baton-agent-*`;

interface Call {
  request: Parameters<InvokeFunction>[0];
  payload: Record<string, unknown>;
}

/** A fake Invoke answering with `reply` (JSON-encoded unless raw bytes), recording each call. */
const fakeLambda = (reply: { json?: unknown; raw?: string; functionError?: string } | ((signal: AbortSignal) => Promise<never>)) => {
  const calls: Call[] = [];
  const invoke: InvokeFunction = async (request, signal) => {
    calls.push({ request, payload: JSON.parse(new TextDecoder().decode(request.Payload)) as Record<string, unknown> });
    if (typeof reply === 'function') return reply(signal);
    const text = reply.raw ?? JSON.stringify(reply.json);
    return { StatusCode: 200, ...(reply.functionError ? { FunctionError: reply.functionError } : {}), Payload: new TextEncoder().encode(text) };
  };
  return { calls, invoke };
};

const executorWith = (invoke: InvokeFunction, allowedFunctions = [defaultPattern]) => createLambdaExecutor({ invoke, functionArnPrefix: prefix, allowedFunctions });

const context = (overrides: Partial<StepContext> = {}): StepContext =>
  stepContext({ stepId: 'review', idempotencyKey: 'run_1:review:1', runInput: { pr: 7 }, dependencyOutputs: { draft: { text: 'v1' } }, ...overrides });

const failure = async (run: Promise<unknown>): Promise<StepError> => {
  const error: unknown = await run.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof StepError)) throw new Error(`expected a StepError, got ${String(error)}`);
  return error;
};

const sdkError = (name: string, fields: Record<string, unknown>) => Object.assign(new Error(`${name} happened`), { name, ...fields });

describe('lambda executor', () => {
  it('invokes the function by ARN with the agent request and completes with an agent reply', async () => {
    const lambda = fakeLambda({ json: { ok: true, data: { verdict: 'lgtm' }, usage: { tokens: { input: 10, output: 4 }, costUsd: 0.001 } } });

    const outcome = await executorWith(lambda.invoke).run(lambdaInput.parse({ function: 'baton-agent-review', payload: { strict: true } }), context());

    expect(outcome).toEqual({ status: 'completed', output: { verdict: 'lgtm' }, usage: { tokens: { input: 10, output: 4 }, costUsd: 0.001 } });
    expect(lambda.calls[0]?.request.FunctionName).toBe(`${prefix}baton-agent-review`);
    expect(lambda.calls[0]?.request.Qualifier).toBeUndefined();
    expect(lambda.calls[0]?.payload).toEqual({
      runId: 'run_1',
      stepId: 'review',
      attempt: 1,
      idempotencyKey: 'run_1:review:1',
      input: { strict: true },
      dependencies: { draft: { text: 'v1' } },
      runInput: { pr: 7 },
    });
  });

  it('passes the callback URLs when the step has them', async () => {
    const lambda = fakeLambda({ json: { ok: true } });
    const callback = { url: 'https://api.example/v1/callbacks/t', heartbeatUrl: 'https://api.example/v1/callbacks/t/heartbeat' };

    await executorWith(lambda.invoke).run(lambdaInput.parse({ function: 'baton-agent-review' }), context({ callback }));

    expect(lambda.calls[0]?.payload).toMatchObject({ input: null, callback });
  });

  it('leaves the step pending when the agent answers pending: true', async () => {
    const outcome = await executorWith(fakeLambda({ json: { ok: true, pending: true } }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context());

    expect(outcome).toEqual({ status: 'pending' });
  });

  it('takes any other JSON as the output', async () => {
    for (const json of [{ summary: 'done' }, ['a', 'b'], 'text', 42, null, { ok: 'yes' }]) {
      const outcome = await executorWith(fakeLambda({ json }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context());
      expect(outcome).toEqual({ status: 'completed', output: json });
    }
  });

  it('treats an empty payload as null and a payload that is not JSON as a failed reply', async () => {
    expect(await executorWith(fakeLambda({ raw: '' }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context())).toEqual({ status: 'completed', output: null });

    const error = await failure(executorWith(fakeLambda({ raw: '<html>' }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()));
    expect(error).toMatchObject({ retryable: false, details: { code: 'INVALID_REPLY' } });
  });

  it('fails as the agent says when it answers ok: false', async () => {
    const refused = await failure(executorWith(fakeLambda({ json: { ok: false, error: 'bad diff', code: 'BAD_INPUT' } }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()));
    expect(refused).toMatchObject({ retryable: false, message: 'bad diff', details: { code: 'BAD_INPUT' } });

    const busy = await failure(executorWith(fakeLambda({ json: { ok: false, error: 'busy', retryable: true } }).invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()));
    expect(busy.retryable).toBe(true);
  });

  it('retries a function error unless its payload says retryable: false', async () => {
    const crash = fakeLambda({ functionError: 'Unhandled', json: { errorType: 'TypeError', errorMessage: 'x is undefined', trace: ['at handler'] } });
    const crashed = await failure(executorWith(crash.invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()));
    expect(crashed).toMatchObject({ retryable: true, details: { code: 'FUNCTION_ERROR' } });
    expect(crashed.message).toBe(`function ${prefix}baton-agent-x failed (TypeError): x is undefined`);

    const final = fakeLambda({ functionError: 'Unhandled', json: { errorType: 'Refusal', errorMessage: 'no', retryable: false, code: 'POLICY' } });
    expect(await failure(executorWith(final.invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()))).toMatchObject({ retryable: false, details: { code: 'POLICY' } });
  });

  it('refuses a function that is not allowed before invoking it', async () => {
    const lambda = fakeLambda({ json: { ok: true } });
    for (const name of ['billing-export', 'arn:aws:lambda:eu-west-1:999988887777:function:baton-agent-x', 'arn:aws:lambda:us-east-1:111122223333:function:baton-agent-x']) {
      const error = await failure(executorWith(lambda.invoke).run(lambdaInput.parse({ function: name }), context()));
      expect(error).toMatchObject({ retryable: false, details: { code: 'FUNCTION_NOT_ALLOWED' } });
      expect(error.message).toMatch(/is not allowed: .*baton-agent-\*.*-c agentFunctions=/);
    }
    expect(lambda.calls).toEqual([]);
  });

  it('invokes a listed function, with the qualifier given in the input or the ARN', async () => {
    const other = 'arn:aws:lambda:us-east-1:444455556666:function:reviewer';
    const lambda = fakeLambda({ json: { ok: true } });
    const executor = executorWith(lambda.invoke, [defaultPattern, other]);

    await executor.run(lambdaInput.parse({ function: other, qualifier: 'live' }), context());
    await executor.run(lambdaInput.parse({ function: `${other}:7` }), context());
    await executor.run(lambdaInput.parse({ function: 'baton-agent-x', qualifier: '$LATEST' }), context());

    expect(lambda.calls.map(({ request }) => [request.FunctionName, request.Qualifier])).toEqual([
      [other, 'live'],
      [other, '7'],
      [`${prefix}baton-agent-x`, '$LATEST'],
    ]);
  });

  it('classifies what Lambda answers: throttles and its own faults retry, refusals do not', async () => {
    const cases: [Error, boolean, string, number?][] = [
      [sdkError('TooManyRequestsException', { $fault: 'client', $metadata: { httpStatusCode: 429 }, retryAfterSeconds: '3' }), true, 'THROTTLED', 3],
      [sdkError('ResourceNotFoundException', { $fault: 'client', $metadata: { httpStatusCode: 404 } }), false, 'FUNCTION_NOT_FOUND'],
      [sdkError('ServiceException', { $fault: 'server', $metadata: { httpStatusCode: 500 } }), true, 'LAMBDA_UNAVAILABLE'],
      [sdkError('ResourceNotReadyException', { $fault: 'server', $metadata: { httpStatusCode: 502 } }), true, 'LAMBDA_UNAVAILABLE'],
      [sdkError('AccessDeniedException', { $fault: 'client', $metadata: { httpStatusCode: 403 } }), false, 'INVOKE_REFUSED'],
      [sdkError('RequestTooLargeException', { $fault: 'client', $metadata: { httpStatusCode: 413 } }), false, 'INVOKE_REFUSED'],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), true, 'NETWORK_ERROR'],
    ];
    for (const [thrown, retryable, code, retryAfterSeconds] of cases) {
      const invoke: InvokeFunction = () => Promise.reject(thrown);
      const error = await failure(executorWith(invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context()));
      expect({ name: thrown.name, retryable: error.retryable, code: error.details.code, retryAfterSeconds: error.details.retryAfterSeconds }).toEqual({ name: thrown.name, retryable, code, retryAfterSeconds });
    }
  });

  it('gives up waiting when the attempt runs out of time (retryable)', async () => {
    const hang = fakeLambda((signal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))));

    const error = await failure(executorWith(hang.invoke).run(lambdaInput.parse({ function: 'baton-agent-x' }), context({ deadlineMs: 50 })));

    expect(error).toMatchObject({ retryable: true, details: { code: 'TIMEOUT' } });
  });
});

describe('lambda input and function ARNs', () => {
  it('accepts names and ARNs, refusing anything else with the field named', () => {
    expect(lambdaInput.safeParse({ function: 'baton-agent-a_b-1' }).success).toBe(true);
    expect(lambdaInput.safeParse({ function: 'arn:aws-cn:lambda:cn-north-1:111122223333:function:x:prod' }).success).toBe(true);
    for (const bad of [{ function: '' }, { function: 'a/b' }, { function: 'arn:aws:s3:::bucket' }, { function: 'x', qualifier: 'a:b' }, { function: 'x', extra: 1 }]) {
      expect(lambdaInput.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    const both = lambdaInput.safeParse({ function: `${prefix}x:1`, qualifier: '2' });
    expect(both.error?.issues[0]?.path).toEqual(['qualifier']);
  });

  it('resolves a bare name into the worker account and region, and an ARN as it is', () => {
    expect(resolveFunction({ function: 'baton-agent-x' }, prefix)).toEqual({ arn: `${prefix}baton-agent-x`, qualifiedArn: `${prefix}baton-agent-x` });
    expect(resolveFunction({ function: 'arn:aws:lambda:us-east-2:444455556666:function:y:live' }, prefix)).toEqual({
      arn: 'arn:aws:lambda:us-east-2:444455556666:function:y',
      qualifier: 'live',
      qualifiedArn: 'arn:aws:lambda:us-east-2:444455556666:function:y:live',
    });
  });

  it('matches ARN patterns as IAM does, a listed alias allowing only that alias', () => {
    const alias = 'arn:aws:lambda:us-east-1:444455556666:function:y:live';
    expect(isFunctionAllowed(resolveFunction({ function: 'baton-agent-x', qualifier: '3' }, prefix), [defaultPattern])).toBe(true);
    expect(isFunctionAllowed(resolveFunction({ function: 'baton-agentx' }, prefix), [defaultPattern])).toBe(false);
    expect(isFunctionAllowed(resolveFunction({ function: alias }, prefix), [alias])).toBe(true);
    expect(isFunctionAllowed(resolveFunction({ function: 'arn:aws:lambda:us-east-1:444455556666:function:y' }, prefix), [alias])).toBe(false);
  });
});
