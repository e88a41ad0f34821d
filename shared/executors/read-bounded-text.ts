import { NonRetryableStepError } from '#shared/domain/step-errors';

/**
 * Reads a reply body as text, refusing one above `maxBytes` rather than buffering it into the
 * worker's memory: a declared length too large stops at once, a stream that grows past the
 * bound is cancelled there, never read to its end. `who` names the peer in the error.
 */
export const readBoundedText = async (response: Response, maxBytes: number, { who, url }: { who: string; url: string }): Promise<string> => {
  const tooLarge = () => new NonRetryableStepError(`${who} replied with more than ${maxBytes} bytes`, { status: response.status, url });
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return '';
  // Node types the body as ReadableStream<any>; fetch bodies are byte streams.
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks).toString('utf8');
};
