import { z } from 'zod';
import { secretName, secretRef } from '#shared/domain/secrets';
import type { StepKind } from '#shared/executors/types';

/**
 * What an `http` step's input may be: the half of the kind that validation needs (every
 * function that validates workflows loads it); the calling half, with undici, is http.ts.
 */

// A Lambda invocation lasts at most 15 minutes: no call can usefully outlive it.
export const maxTimeoutSeconds = 900;

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const reservedHeaders: Record<string, string> = {
  authorization: 'must not be set here: use bearerToken',
  'x-idempotency-key': 'is set by Baton: the same for every attempt of one execution',
  'x-baton-attempt': 'is set by Baton for every attempt',
  'content-type': 'is always application/json',
};

/** A URL with no user or password in it (a URL that does not parse passes: the URL check reports it). */
export const withoutCredentials = (value: string): boolean => {
  try {
    const url = new URL(value);
    return url.username === '' && url.password === '';
  } catch {
    return true; // the URL check reports it
  }
};

/**
 * A credential is only ever a reference to a project secret: a literal would be stored in the
 * workflow and shown to every viewer of it and of its steps.
 */
const credentialRef = z.strictObject(
  { $secret: secretName },
  { error: 'must be a secret reference {"$secret": "<name>"}: store the token with PUT /v1/projects/{projectId}/secrets/{name}' },
);

const headerValue = z.string().max(8192).regex(/^[^\r\n\0]*$/, 'must not contain line breaks');

const extraHeaders = z
  .record(
    z.string().regex(headerName, 'must be a valid HTTP header name'),
    // A secret reference (`{"$secret": "<name>"}`) for an API key header, or a plain value.
    z.union([headerValue, secretRef], { error: 'must be a string or a secret reference {"$secret": "<name>"}' }),
  )
  .superRefine((headers, context) => {
    for (const name of Object.keys(headers)) {
      const why = reservedHeaders[name.toLowerCase()];
      if (why) context.addIssue({ code: 'custom', path: [name], message: `${name} ${why}` });
    }
  });

/** What an `http` step's input must look like. */
export const httpInput = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    // Credentials in the URL would end up in events and error messages.
    .refine(withoutCredentials, 'must not contain credentials: use bearerToken or headers'),
  method: z.enum(['POST', 'PUT']).default('POST'),
  body: z.unknown().optional(),
  headers: extraHeaders.optional(),
  bearerToken: credentialRef.optional(),
  timeoutSeconds: z.number().int().min(1).max(maxTimeoutSeconds).optional(),
  /**
   * Reuse the last good reply for the same project, URL and body: within ttlSeconds without a
   * call, later by sending its ETag in If-None-Match (a 304 reuses it). Only replies with an ETag are kept.
   */
  cache: z.strictObject({ ttlSeconds: z.number().int().min(1).max(30 * 24 * 3600) }).optional(),
});
export type HttpInput = z.infer<typeof httpInput>;

/** The `http` kind as validation sees it. */
export const httpKind: StepKind<HttpInput> = { kind: 'http', input: httpInput };
