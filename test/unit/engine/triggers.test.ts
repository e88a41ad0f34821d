import { describe, expect, it } from 'vitest';
import { startFromDelivery, startFromEvent, type TriggerStartDeps } from '#shared/engine/triggers';
import type { TriggerRecord } from '#shared/store/triggers';
import type { Workflow } from '#shared/store/workflows';
import { createEngineHarness, projectId } from '#test/helpers/engine-harness';

const workflow: Workflow = { id: 'wf_test', projectId, name: 'test', version: 1, createdAt: '2026-11-30T12:00:00.000Z', steps: [{ id: 'work', kind: 'work', dependsOn: [] }] };

const trigger = (over: Partial<TriggerRecord> = {}): TriggerRecord => ({
  id: 'trg_1',
  projectId,
  workflowId: workflow.id,
  source: { type: 'webhook', provider: 'github', event: 'push', filter: { repository: 'acme/app' } },
  state: 'ENABLED',
  createdAt: '2026-11-30T12:00:00.000Z',
  ...over,
});

function setup(triggers: TriggerRecord[]) {
  const h = createEngineHarness();
  const deps: TriggerStartDeps = {
    ...h.deps,
    artifacts: { ...h.deps.artifacts, loadOutput: async () => ({ ref: 'refs/heads/main' }) },
    workflows: { get: async (_projectId, workflowId) => (workflowId === workflow.id ? workflow : undefined) },
    triggers: { read: async (_projectId, triggerId) => triggers.find((item) => item.id === triggerId), list: async () => triggers },
  };
  const runs = () => h.memory.events().filter((event) => event.type === 'run.created').map((event) => event.runId);
  return { h, deps, runs };
}

const delivery = { provider: 'github', deliveryId: 'd-1', event: 'push', repository: 'Acme/App', branch: 'main', payloadRef: 'projects/p/deliveries/github/d-1.json' };

describe('startFromDelivery', () => {
  it('starts one run per matching enabled trigger, with the delivery and payload as input, and none on a redelivery', async () => {
    const { h, deps, runs } = setup([trigger(), trigger({ id: 'trg_paused', state: 'DISABLED' }), trigger({ id: 'trg_other', source: { type: 'webhook', provider: 'github', event: 'pull_request' } })]);
    const first = await startFromDelivery(deps, projectId, delivery);
    const again = await startFromDelivery(deps, projectId, delivery);

    expect(first).toHaveLength(1);
    expect(again).toEqual(first);
    expect(runs()).toEqual(first);
    const run = h.run(first[0]!);
    expect(run.input).toEqual({ delivery: { provider: 'github', deliveryId: 'd-1', event: 'push', repository: 'Acme/App', branch: 'main' }, payload: { ref: 'refs/heads/main' } });
    expect(run.idempotencyKey).toBe('trigger:trg_1:d-1');
    expect(run.status).toBe('running');
  });

  it('starts nothing for a workflow that is gone, or an input over 64 KB', async () => {
    const { deps, runs } = setup([trigger({ workflowId: 'wf_gone' }), trigger({ id: 'trg_big', input: { mapping: { all: '$' } } })]);
    const big = { ...deps, artifacts: { ...deps.artifacts, loadOutput: async () => ({ blob: 'x'.repeat(70 * 1024) }) } };
    expect(await startFromDelivery(big, projectId, delivery)).toEqual([]);
    expect(runs()).toEqual([]);
  });
});

describe('startFromEvent', () => {
  const eventTrigger = trigger({ id: 'trg_eb', source: { type: 'eventbridge', pattern: { source: ['acme'] } } });
  const event = { id: 'evt-1', source: 'acme', 'detail-type': 'x', detail: { n: 1 } };

  it('starts the run once per event id, with the event as input', async () => {
    const { h, deps, runs } = setup([eventTrigger]);
    const first = await startFromEvent(deps, { projectId, triggerId: 'trg_eb', event });
    const again = await startFromEvent(deps, { projectId, triggerId: 'trg_eb', event });

    expect(first).toMatchObject({ created: true });
    expect(again).toEqual({ runId: (first as { runId: string }).runId, created: false });
    expect(runs()).toHaveLength(1);
    expect(h.run((first as { runId: string }).runId).input).toEqual(event);
  });

  it('starts nothing for a paused or deleted trigger', async () => {
    const { deps, runs } = setup([{ ...eventTrigger, state: 'DISABLED' }]);
    expect(await startFromEvent(deps, { projectId, triggerId: 'trg_eb', event })).toEqual({ skipped: 'paused' });
    expect(await startFromEvent(deps, { projectId, triggerId: 'trg_gone', event })).toEqual({ skipped: 'deleted' });
    expect(runs()).toEqual([]);
  });
});
