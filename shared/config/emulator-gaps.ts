/**
 * The emulator workarounds Lambda code runs. They live here rather than in infra/ so that no
 * function bundle imports the CDK side; infra/emulator-gaps.ts (the one list of every gap)
 * re-exports them. Each says which emulator behaviour it works around.
 */

/**
 * The API's base URL on an emulator. `{apiId}.execute-api.localhost` does not resolve on every
 * machine, so Baton uses the path form that MiniStack and LocalStack both serve.
 */
export const localApiUrl = (endpoint: string, apiId: string): string =>
  `${endpoint.replace(/\/$/, '')}/_aws/execute-api/${apiId}`;

/**
 * EventBridge Scheduler replaces `<aws.scheduler.scheduled-time>` in a target's input with the
 * fire time; MiniStack 1.5.33 passes the placeholder through unchanged. The scheduled-start
 * function then uses the current time truncated to the minute (schedules fire at most once a
 * minute), which keeps a repeated fire idempotent.
 */
export const localFireTime = (now: Date): string => new Date(Math.floor(now.getTime() / 60_000) * 60_000).toISOString();

/**
 * The API's base URL as the worker reads it (the HTTP API's `ApiEndpoint`, published in SSM by
 * the API stack), for callback URLs. Emulators answer `http://<id>.execute-api.<host>:<port>`,
 * which does not resolve on every machine: there the path form on the emulator's endpoint is
 * used instead. On AWS (no AWS_ENDPOINT_URL) the endpoint is used as it is.
 */
export const reachableApiUrl = (apiEndpoint: string, emulatorEndpoint: string | undefined): string => {
  const id = /^https?:\/\/([a-z0-9]+)\.execute-api\./.exec(apiEndpoint)?.[1];
  if (!emulatorEndpoint || !id || /\.amazonaws\.com(\.cn)?(:\d+)?\/?$/.test(apiEndpoint)) return apiEndpoint;
  return localApiUrl(emulatorEndpoint, id);
};

/**
 * SQS's StartMessageMoveTask (the redrive of a dead-letter queue) is missing from MiniStack
 * 1.5.33: it answers `InvalidAction`. On an emulator (AWS_ENDPOINT_URL set) the redrive then
 * moves the messages itself, as the task would: receive, send the same body and attributes to the
 * destination, delete (shared/clients/queue-admin.ts, moveByCopy). On AWS the error is surfaced.
 */
export const messageMoveTaskMissing = (error: unknown, emulatorEndpoint: string | undefined): boolean => {
  if (!emulatorEndpoint || !(error instanceof Error)) return false;
  return /InvalidAction|UnsupportedOperation|not valid for this endpoint/i.test(`${error.name} ${error.message}`);
};
