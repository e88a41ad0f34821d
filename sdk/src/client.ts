import createFetchClient, { type Client } from 'openapi-fetch';
import { BatonApiError } from './errors';
import type { paths } from './schema';

export interface ClientOptions {
  /** The API's base URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com` (a trailing `/` is fine). */
  baseUrl: string;
  /** A project token (`btn_…`) or the installation admin token; sent as `Authorization: Bearer`. */
  token?: string;
  /** Another fetch (tests, proxies); it receives a `Request`. Default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Headers sent with every request (e.g. a user agent). */
  headers?: Record<string, string>;
}

/**
 * Baton's API as a typed client: `GET`, `POST`, `PUT`, `PATCH`, `DELETE` take a path of the
 * contract and its typed `params` and `body`, and answer `{data, error, response}`
 * (openapi-fetch). Wrap a call in `unwrap` to get the data or a thrown `BatonApiError`.
 */
export type BatonClient = Client<paths>;

export function createClient({ baseUrl, token, fetch, headers }: ClientOptions): BatonClient {
  return createFetchClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(fetch ? { fetch } : {}),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

interface CallResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful call, or a `BatonApiError` with the API's `{code, message, field,
 * requestId}`: `const run = await unwrap(client.GET('/v1/runs/{runId}', {params: {path: {runId}}}))`.
 */
export async function unwrap<R extends CallResult>(call: Promise<R>): Promise<Exclude<R['data'], undefined>> {
  const result = await call;
  // openapi-fetch leaves `error` undefined for an empty error body: the status decides.
  if (!result.response.ok) throw BatonApiError.from(result.response, result.error);
  return result.data as Exclude<R['data'], undefined>;
}
