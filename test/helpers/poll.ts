import { sleep } from '#sdk';

/**
 * Polls until `probe` returns a value that is not undefined, or fails after `timeoutMs` with
 * the description. Used instead of fixed sleeps for anything asynchronous.
 */
export async function eventually<T>(
  description: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 250 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`, { cause: lastError });
}
