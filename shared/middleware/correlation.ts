import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';

/**
 * What ties a log line to the work it belongs to: the run, step and attempt a step message is
 * about, and `requestId`, the `x-request-id` of the API request that started or acted on the run
 * (carried on the step messages it caused, and on theirs, through the queue to every step).
 */
export interface Correlation {
  requestId?: string;
  runId?: string;
  stepId?: string;
  attempt?: number;
}

// Scoped by async context, not by invocation: the records of one batch run in parallel, and a
// logger-wide appendKeys would lend one record's ids to another's lines.
const scope = new AsyncLocalStorage<Correlation>();

/** Runs `work` with these keys (added to the enclosing scope's) on every line it logs and every step message it sends. */
export const withCorrelation = <T>(keys: Correlation, work: () => T): T => {
  const defined = Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined)) as Correlation;
  return scope.run({ ...scope.getStore(), ...defined }, work);
};

/** The keys of the current scope (none outside withCorrelation). */
export const currentCorrelation = (): Correlation | undefined => scope.getStore();

/**
 * A Powertools Logger whose every line carries the current correlation keys (`requestId`,
 * `runId`, `stepId`, `attempt`), whichever part of the code logs it; a line's own fields of the
 * same name win. Outside a scope the lines are a plain Logger's.
 */
export class CorrelatedLogger extends Logger {
  override trace(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.trace(input, ...withKeys(extra));
  }
  override debug(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.debug(input, ...withKeys(extra));
  }
  override info(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.info(input, ...withKeys(extra));
  }
  override warn(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.warn(input, ...withKeys(extra));
  }
  override error(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.error(input, ...withKeys(extra));
  }
  override critical(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.critical(input, ...withKeys(extra));
  }
}

// First, so that a line's own attributes override them. The Logger merges each extra by its kind
// (an object's keys, an Error under `error`), so a mixed list is fine at run time.
const withKeys = (extra: LogItemExtraInput): LogItemExtraInput => {
  const keys = scope.getStore();
  return keys && Object.keys(keys).length > 0 ? ([{ ...keys }, ...extra] as LogItemExtraInput) : extra;
};

/** Longest caller-chosen request id taken from an `x-request-id` header. */
const maxRequestIdLength = 128;
const requestIdPattern = /^[A-Za-z0-9._:@/+=-]+$/;

/**
 * A caller's `x-request-id` when it is a usable id (1–128 characters, no spaces or control
 * characters: it ends up in log lines and step messages); otherwise undefined.
 */
export const callerRequestId = (header: string | undefined): string | undefined =>
  header && header.length <= maxRequestIdLength && requestIdPattern.test(header) ? header : undefined;
