import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import type { InvokeFunction } from '#shared/executors/lambda';
import { traced } from '#shared/middleware/tracer';

/**
 * Agent invocations (`lambda` steps). No SDK retries: an invocation that failed after the
 * function ran must not silently run it again within one attempt; Baton's retry policy decides
 * (backoff, Retry-After, a recorded attempt each time).
 */
export const createLambdaClient = (): LambdaClient => traced(attachUsageMeter(new LambdaClient({ maxAttempts: 1 })));

/** Lambda Invoke (RequestResponse) through a metered client, cancelled by the attempt's signal. */
export const lambdaInvoke = (lambda: LambdaClient = createLambdaClient()): InvokeFunction => (request, signal) =>
  lambda.send(new InvokeCommand({ ...request, InvocationType: 'RequestResponse' }), { abortSignal: signal });
