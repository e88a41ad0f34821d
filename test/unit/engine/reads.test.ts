import { describe, expect, it } from 'vitest';
import { rerunStep } from '#shared/engine/rerun-step';
import { invocationRunReads } from '#shared/engine/run-reads';
import type { EngineStore } from '#shared/engine/store';
import type { RunRecord } from '#shared/store/runs';
import { createEngineHarness, type EngineHarness } from '#test/helpers/engine-harness';

/** Counts the engine's reads (and its unread claims) by the step they were for. */
function countReads(h: EngineHarness) {
  const store = h.deps.store;
  const reads: string[] = [];
  const unbornClaims: string[] = [];
  h.deps.store = {
    ...store,
    getRun: (runId) => (reads.push('run'), store.getRun(runId)),
    getStep: (runId, stepId) => (reads.push(`step ${stepId}`), store.getStep(runId, stepId)),
    getRunAndStep: (runId, stepId) => (reads.push(`run+step ${stepId}`), store.getRunAndStep(runId, stepId)),
    getSteps: (runId, stepIds, options) => (reads.push(`steps ${stepIds.join(',')}`), store.getSteps(runId, stepIds, options)),
    claim: (runId, stepId, claim, event) => {
      if (claim.unborn) unbornClaims.push(stepId);
      return store.claim(runId, stepId, claim, event);
    },
  } satisfies EngineStore;
  return { reads, unbornClaims };
}

describe('reads per step (docs/ARCHITECTURE.md, "Reads per step")', () => {
  it('runs a noop chain reading each step\'s run only: no step item, no child, no dependency output is read', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }]);
    const { reads, unbornClaims } = countReads(h);

    await h.deliver();

    expect(h.run(runId).status).toBe('completed');
    // The root (queued at creation) is read; b and c run inline, claimed as their definition says.
    expect(reads.filter((read) => read !== 'run')).toEqual(['step a']);
    expect(unbornClaims).toEqual(['b', 'c']);
    // One run read per step (each inline step reads it again), and the run's completion reads it.
    expect(reads.filter((read) => read === 'run')).toHaveLength(4);
  });

  it('releases a fan without reading the children, and claims each leaf without reading it', async () => {
    const h = createEngineHarness();
    const leaves = ['l1', 'l2', 'l3', 'l4'];
    const runId = await h.startRun([{ id: 'root', kind: 'noop' }, ...leaves.map((id) => ({ id, kind: 'noop', dependsOn: ['root'] }))]);
    const { reads, unbornClaims } = countReads(h);

    await h.drain();

    expect(h.run(runId).status).toBe('completed');
    expect(reads.filter((read) => read !== 'run')).toEqual(['step root']);
    expect(unbornClaims.sort()).toEqual([...leaves].sort());
  });

  it('reads the dependencies of a kind that uses their outputs', async () => {
    const h = createEngineHarness();
    await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    const { reads } = countReads(h);

    await h.drain();

    expect(reads).toContain('steps a');
  });

  it('reads what a re-run may have reset: the re-run parent\'s children, and a child whose unread claim lost to its item', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }]);
    await h.drain();
    await rerunStep(h.deps, h.run(runId), 'a', {}, 'tok_editor');
    const { reads, unbornClaims } = countReads(h);

    await h.drain();

    expect(h.run(runId).status).toBe('completed');
    for (const id of ['a', 'b', 'c']) expect(h.step(runId, id)).toMatchObject({ status: 'completed', generation: 2, attempt: 2 });
    // a is re-run (generation 2): its child is read, and sent at the attempt it was reset at.
    expect(reads).toContain('steps b');
    expect(unbornClaims).toEqual([]);
  });
});

describe('run reads shared by the records of one invocation', () => {
  const run = { id: 'run_1', status: 'running' } as RunRecord;

  it('reads a run once for the records that start together, and again once the read is older than allowed', async () => {
    let now = 0;
    let reads = 0;
    const shared = invocationRunReads({ getRun: async () => (reads++, run) }, () => now, 200);

    await Promise.all([shared.run('run_1'), shared.run('run_1'), shared.run('run_1')]);
    expect(reads).toBe(1);
    now = 201;
    await shared.run('run_1');
    expect(reads).toBe(2);
  });

  it('does not keep a failed read', async () => {
    let reads = 0;
    const shared = invocationRunReads({ getRun: async () => (reads++ === 0 ? Promise.reject(new Error('throttled')) : run) }, () => 0);

    await expect(shared.run('run_1')).rejects.toThrow('throttled');
    await expect(shared.run('run_1')).resolves.toBe(run);
  });
});
