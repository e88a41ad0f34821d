/**
 * Polling with backoff: every second while something changes, slowing down to every 8 seconds
 * while nothing does, back to every second as soon as something moves (or the user acts).
 * Used as react-query's `refetchInterval`; `stop` ends polling (e.g. a run that has finished).
 */
const fastest = 1000;
const slowest = 8000;
const seen = new WeakMap<object, { updatedAt: number; fingerprint: string; interval: number }>();

export const backoff =
  <T>(stop?: (data: T) => boolean) =>
  (query: { state: { data: T | undefined; dataUpdatedAt: number } }): number | false => {
    const { data, dataUpdatedAt } = query.state;
    if (data !== undefined && stop?.(data)) return false;
    const previous = seen.get(query);
    if (previous && previous.updatedAt === dataUpdatedAt) return previous.interval;
    const fingerprint = JSON.stringify(data ?? null);
    const interval = !previous || previous.fingerprint !== fingerprint ? fastest : Math.min(slowest, previous.interval * 2);
    seen.set(query, { updatedAt: dataUpdatedAt, fingerprint, interval });
    return interval;
  };
