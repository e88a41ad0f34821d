import { addCounters, emptyCounters, type ProjectCounters } from '#shared/domain/project-counters';
import type { ProjectCounterStore } from './project-counters';

/** Project counters in memory, with the DynamoDB adapter's semantics (shared/store/project-counters.ts). */
export function createMemoryProjectCounterStore(): ProjectCounterStore & { projects(): string[] } {
  const counters = new Map<string, ProjectCounters>();
  return {
    async add(projectId, delta) {
      counters.set(projectId, addCounters(counters.get(projectId) ?? emptyCounters(), delta));
    },
    read: async (projectId) => structuredClone(counters.get(projectId) ?? emptyCounters()),
    projects: () => [...counters.keys()],
  };
}
