import { createMemoryEngineStore } from '#shared/store/memory-engine-store';
import { describeEngineStoreContract } from '#test/helpers/store-contract';

/**
 * The in-memory engine store against the store contract (test/helpers/store-contract.ts); the
 * DynamoDB adapter runs the same scenarios on the emulator (test/e2e/engine-store-contract.test.ts).
 */
describeEngineStoreContract('in memory', () => {
  const memory = createMemoryEngineStore();
  return {
    store: memory.store,
    history: async (runId) => memory.events().filter((event) => event.runId === runId).map(({ published: _published, ...event }) => event),
    inbox: async (projectId) => memory.inbox().filter((entry) => memory.step(...(entry.split('/') as [string, string]))?.projectId === projectId),
    markPublished: async (events) => memory.markPublished(events),
  };
});
