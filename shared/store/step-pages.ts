/**
 * Paging over a run's step ids (sorted as the table sorts its keys): the ids after `after`, at
 * most `limit` of them, and whether more follow. Pure, so both the DynamoDB listing and its unit
 * test use the same cut.
 */
export function pageOfIds(sortedIds: readonly string[], after: string | undefined, limit: number): { ids: string[]; more: boolean } {
  const start = after === undefined ? 0 : firstAfter(sortedIds, after);
  const ids = sortedIds.slice(start, start + limit);
  return { ids, more: start + ids.length < sortedIds.length };
}

/** Binary search: the index of the first id greater than `after` (ids are unique and sorted). */
const firstAfter = (sortedIds: readonly string[], after: string): number => {
  let low = 0;
  let high = sortedIds.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sortedIds[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
};

/**
 * One page of a run's steps from its two sources: the ids its version defines (sorted) and the
 * ids of the step items a query read after the same position (a planner's added steps exist only
 * as items). The first `limit` of the union lie within the first `limit` of each source; when the
 * query stopped early (`readUpTo`: its last id, DynamoDB's 1 MB page or its Limit) nothing past
 * that id is known yet, so the page stops there and the cursor resumes after it.
 */
export function mergedPage(definedSorted: readonly string[], after: string | undefined, itemIds: readonly string[], readUpTo: string | undefined, limit: number): { ids: string[]; more: boolean } {
  const defined = pageOfIds(definedSorted, after, limit);
  const known = [...new Set([...defined.ids, ...itemIds])].filter((id) => readUpTo === undefined || id <= readUpTo).sort();
  const ids = known.slice(0, limit);
  const last = ids.at(-1);
  const definedLeft = last === undefined ? defined.ids.length > 0 || defined.more : firstAfterIndex(definedSorted, last) < definedSorted.length;
  return { ids, more: known.length > ids.length || definedLeft || readUpTo !== undefined };
}

const firstAfterIndex = (sortedIds: readonly string[], after: string): number => firstAfter(sortedIds, after);
