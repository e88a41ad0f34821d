import { describe, expect, it } from 'vitest';
import { emptyCounters, type ProjectCounters } from '#shared/domain/project-counters';
import { newId } from '#shared/domain/ids';
import type { ProjectCounterStore } from '#shared/store/project-counters';

const delta = (change: Partial<ProjectCounters>): ProjectCounters => ({ ...emptyCounters(), ...change });

/**
 * The project counters' semantics for any adapter (in memory: unit project; DynamoDB: e2e, on a
 * throwaway table): additions add up, concurrent ones included, per project; nothing counted
 * reads as zeros.
 */
export function describeProjectCounterContract(name: string, adapter: () => ProjectCounterStore) {
  describe(`project counters contract (${name})`, () => {
    it('reads all zeros for a project nothing was counted for', async () => {
      const store = adapter();
      expect(await store.read(newId('prj'))).toEqual(emptyCounters());
    });

    it('adds every delta, concurrent ones included, to its own project only', async () => {
      const store = adapter();
      const projectId = newId('prj');
      const other = newId('prj');

      await store.add(projectId, delta({ runs: { pending: 1, running: 1 }, steps: { queued: 2 }, inputTokens: 10, outputTokens: 4, usageUsd: 0.25, awsCostUsd: 0.000_001_25 }));
      await Promise.all(
        Array.from({ length: 5 }, () => store.add(projectId, delta({ runs: { completed: 1 }, steps: { queued: 1, running: 2, completed: 2 }, inputTokens: 1, lambdaComputeUsd: 0.000_000_5 }))),
      );
      await store.add(other, delta({ runs: { blocked: 1 } }));

      const counters = await store.read(projectId);
      expect(counters.runs).toEqual({ pending: 1, running: 1, completed: 5 });
      expect(counters.steps).toEqual({ queued: 7, running: 10, completed: 10 });
      expect(counters.inputTokens).toBe(15);
      expect(counters.outputTokens).toBe(4);
      expect(counters.usageUsd).toBeCloseTo(0.25, 12);
      expect(counters.awsCostUsd).toBeCloseTo(0.000_001_25, 12);
      expect(counters.lambdaComputeUsd).toBeCloseTo(0.000_002_5, 12);
      expect((await store.read(other)).runs).toEqual({ blocked: 1 });
    });

    it('writes nothing for an empty delta', async () => {
      const store = adapter();
      const projectId = newId('prj');
      await store.add(projectId, emptyCounters());
      expect(await store.read(projectId)).toEqual(emptyCounters());
    });
  });
}
