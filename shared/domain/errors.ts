/**
 * Errors that carry meaning. API errors map to one HTTP status and a stable code; only their
 * message (written for clients) leaves the service. Anything else becomes a 500 with a generic
 * message, and the details stay in the logs.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  /** Response headers the error needs (Retry-After, Allow). */
  headers: Record<string, string> = {};
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ValidationError extends ApiError {
  override name = 'ValidationError';
  constructor(message: string, field?: string) {
    super(400, 'validation_error', message, field);
  }
}

export class UnauthorizedError extends ApiError {
  override name = 'UnauthorizedError';
  constructor(message = 'A valid bearer token is required') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends ApiError {
  override name = 'ForbiddenError';
  constructor(message = 'This token may not do that') {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super(404, 'not_found', `${what} was not found`);
  }
}

export class ConflictError extends ApiError {
  override name = 'ConflictError';
  constructor(message: string, field?: string) {
    super(409, 'conflict', message, field);
  }
}

/**
 * An Idempotency-Key already used for a different request: answering with the first request's
 * result would silently drop this one, and guessing which the caller meant would be worse.
 */
export class IdempotencyKeyReusedError extends ApiError {
  override name = 'IdempotencyKeyReusedError';
  constructor(key: string, firstResult: string) {
    super(
      422,
      'idempotency_key_reused',
      `Idempotency-Key "${key}" was already used in the last 24 hours with a different request body (it created ${firstResult}); repeat that exact body to get the same result, or send a new key for a new request`,
      'header.idempotency-key',
    );
  }
}

/** Over the token's request rate: try again after `retryAfterSeconds` (sent as Retry-After). */
export class RateLimitedError extends ApiError {
  override name = 'RateLimitedError';
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'rate_limited', `Too many requests for this token; retry after ${retryAfterSeconds}s`);
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

/** A request body larger than the API accepts. */
export class PayloadTooLargeError extends ApiError {
  override name = 'PayloadTooLargeError';
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `The request body is larger than ${limitBytes} bytes`, 'body');
  }
}

/** A known path asked with a method it does not take. */
export class MethodNotAllowedError extends ApiError {
  override name = 'MethodNotAllowedError';
  constructor(method: string, path: string, allowed: string[]) {
    super(405, 'method_not_allowed', `${path} does not take ${method}; it takes ${allowed.join(', ')}`);
    this.headers = { allow: allowed.join(', ') };
  }
}
