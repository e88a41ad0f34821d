/** The body of every API error: `{error: {code, message, field?, requestId}}`. */
export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  requestId?: string;
}

/**
 * An API call that answered an error status, with what the API said: `code` (e.g.
 * `validation_error`, `not_found`, `conflict`), `field` (where the input is wrong, e.g.
 * `body.workflowId`) and `requestId` (quote it when reporting a problem). Answers that are not
 * Baton's JSON errors (a proxy's 502) get `code` `http_<status>`.
 */
export class BatonApiError extends Error {
  override name = 'BatonApiError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly requestId: string | undefined;
  /** Seconds to wait before trying again, from `Retry-After` (429). */
  readonly retryAfter: number | undefined;

  constructor(status: number, error: ApiErrorBody, options: { retryAfter?: number } = {}) {
    super(`${error.message} (${status} ${error.code}${error.field ? `, ${error.field}` : ''}${error.requestId ? `, request ${error.requestId}` : ''})`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.requestId = error.requestId;
    this.retryAfter = options.retryAfter;
  }

  /** The error a response carries, whatever its body. */
  static from(response: Response, body: unknown): BatonApiError {
    const error = isErrorBody(body)
      ? body.error
      : { code: `http_${response.status}`, message: typeof body === 'string' && body ? body.slice(0, 500) : response.statusText || `HTTP ${response.status}` };
    const requestId = error.requestId ?? response.headers.get('x-request-id') ?? undefined;
    const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
    return new BatonApiError(response.status, { ...error, ...(requestId ? { requestId } : {}) }, Number.isFinite(retryAfter) ? { retryAfter } : {});
  }
}

function isErrorBody(body: unknown): body is { error: ApiErrorBody } {
  if (!body || typeof body !== 'object' || !('error' in body)) return false;
  const { error } = body;
  return !!error && typeof error === 'object' && typeof (error as ApiErrorBody).code === 'string' && typeof (error as ApiErrorBody).message === 'string';
}

/** A wait that ran out of time; `last` is what was seen last (e.g. the run, still running). */
export class BatonTimeoutError<T = unknown> extends Error {
  override name = 'BatonTimeoutError';
  readonly last: T | undefined;

  constructor(message: string, last?: T) {
    super(message);
    this.last = last;
  }
}
