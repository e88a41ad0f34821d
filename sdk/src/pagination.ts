/** One page of a listing: its items and, when there are more, the cursor of the next page. */
export interface Page<T> {
  items: T[];
  cursor?: string;
}

/**
 * Every item of a paged listing, page by page, following `cursor` until the last page:
 * `for await (const run of paginate((cursor) => unwrap(client.GET('/v1/projects/{projectId}/runs',
 * {params: {path: {projectId}, query: {cursor, status: 'blocked'}}}))))`. Stops early when the
 * loop breaks; `limit` caps the number of items.
 */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, { limit = Number.POSITIVE_INFINITY }: { limit?: number } = {}): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  let yielded = 0;
  do {
    const page = await fetchPage(cursor);
    for (const item of page.items) {
      if (yielded >= limit) return;
      yield item;
      yielded += 1;
    }
    cursor = page.cursor;
  } while (cursor && yielded < limit);
}

/** Every item an async iterable yields, in an array (at most `limit`). */
export async function collect<T>(items: AsyncIterable<T>, { limit = Number.POSITIVE_INFINITY }: { limit?: number } = {}): Promise<T[]> {
  const all: T[] = [];
  if (limit <= 0) return all;
  for await (const item of items) {
    all.push(item);
    if (all.length >= limit) break;
  }
  return all;
}
