/**
 * Baton's TypeScript SDK: a typed client generated from the API's OpenAPI contract
 * (docs/openapi.json) and the helpers most callers want. Runs in Node 20+ and in browsers:
 * nothing here imports a Node module.
 */
export { createClient, unwrap, type BatonClient, type ClientOptions } from './client';
export { BatonApiError, BatonTimeoutError, type ApiErrorBody } from './errors';
export { collect, paginate, type Page } from './pagination';
export { createRunAndWait, finalRunStatuses, isSettled, runEvents, waitForRun, waitForStep, type RunEventsOptions, type StepWaitOptions, type WaitOptions } from './runs';
export { sleep } from './sleep';
export { mapChildren, runSteps, type StepListOptions } from './steps';
export type * from './types';
export type { components, operations, paths } from './schema';
