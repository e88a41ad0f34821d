/**
 * Callbacks for long agent work (Step Functions' task tokens): an agent that answers "pending"
 * reports later through URLs holding an unguessable token bound to one step execution (run,
 * step, attempt). Only the token's SHA-256 is stored; the token in the path is the credential.
 * The tokens themselves are made in callback-tokens.ts: this module stays free of node:crypto
 * because the StepSpec rules (workflow.ts) use it and the console bundles those for the browser.
 */

/** The kinds whose agent may answer "pending" and finish through a callback. */
export const callbackKinds: readonly string[] = ['http', 'lambda', 'workflow'];

/** How long a pending step waits for its callback when its spec says nothing. */
export const defaultCallbackTimeoutSeconds = 24 * 3600;
/** The longest a step may wait for its callback. */
export const maxCallbackTimeoutSeconds = 30 * 24 * 3600;

/** What a callback token may look like in a path: anything else is unknown without a lookup. */
export const callbackTokenPattern = /^[A-Za-z0-9_-]{43}$/;

/** The callback and heartbeat URLs an agent is given, on the API's base URL. */
export const callbackUrls = (apiBaseUrl: string, token: string): { url: string; heartbeatUrl: string } => {
  const url = `${apiBaseUrl.replace(/\/$/, '')}/v1/callbacks/${token}`;
  return { url, heartbeatUrl: `${url}/heartbeat` };
};

/**
 * When a pending step's wait ends unless a heartbeat extends it: the next heartbeat is due
 * `heartbeatSeconds` after the last sign of life, and nothing outlives the deadline.
 */
export const callbackDueAt = (lastSign: Date, deadline: Date, heartbeatSeconds: number | undefined): Date =>
  heartbeatSeconds === undefined ? deadline : new Date(Math.min(deadline.getTime(), lastSign.getTime() + heartbeatSeconds * 1000));
