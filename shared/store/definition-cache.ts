/**
 * The per-Lambda cache of runs' step definitions (runs.ts `definitionsOf`), bounded by the steps
 * it holds rather than by runs: a 10,000-step run's definitions are about 5 MB of records, so 200
 * such runs would not fit a 512 MB function. Oldest first out; the newest entry always stays,
 * however large. Loading entries count nothing until they resolve.
 */
export function createDefinitionCache<V extends { size: number }>({ maxSteps = 25_000, maxRuns = 200 }: { maxSteps?: number; maxRuns?: number } = {}) {
  const entries = new Map<string, Promise<V | undefined>>();
  const sizes = new Map<string, number>();
  let held = 0;

  const evict = (keep: string) => {
    for (const key of entries.keys()) {
      if (held <= maxSteps && entries.size <= maxRuns) return;
      if (key === keep) continue;
      forget(key);
    }
  };
  const forget = (key: string) => {
    entries.delete(key);
    held -= sizes.get(key) ?? 0;
    sizes.delete(key);
  };

  return {
    /** The cached entry, or `load`'s (cached; a failed load is forgotten so the next read tries again). */
    get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
      const cached = entries.get(key);
      if (cached) return cached;
      const loading = load();
      entries.set(key, loading);
      loading.then(
        (value) => {
          if (entries.get(key) !== loading) return;
          sizes.set(key, value?.size ?? 0);
          held += value?.size ?? 0;
          evict(key);
        },
        () => {
          if (entries.get(key) === loading) forget(key);
        },
      );
      evict(key);
      return loading;
    },
    /** Steps held by resolved entries (for tests). */
    get cachedSteps() {
      return held;
    },
    get size() {
      return entries.size;
    },
  };
}
