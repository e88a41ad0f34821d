import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

beforeEach(resetData);
const testAgent = useTestAgent({ beforeAll, afterAll });

/** The child run a parent's `workflow` step started (its parent link), once it exists. */
const childOf = (client: EngineClient, workflowId: string) =>
  eventually(`a run of ${workflowId}`, async () => {
    const { items } = await unwrap(client.baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId }, query: { workflowId } } }));
    return items[0];
  }, { timeoutMs: 30_000, intervalMs: 300 });

describe('sub-workflows on the deployed stack', () => {
  it('a workflow step completes with its child run\'s sink outputs; the child links to its parent and the step to the child', async () => {
    const client = await engineClient();
    const childWorkflow = await client.workflow({
      name: 'child',
      steps: [
        { id: 'fetch', kind: 'http', input: { url: `${testAgent().url}/data` } },
        { id: 'summary', kind: 'noop', input: { words: 3 }, dependsOn: ['fetch'] },
        { id: 'tag', kind: 'noop', input: { tag: 'v1' } },
      ],
    });
    const parentWorkflow = await client.workflow({
      name: 'parent',
      steps: [
        { id: 'sub', kind: 'workflow', input: { workflowId: childWorkflow, input: { topic: 'otters' } } },
        { id: 'after', kind: 'noop', dependsOn: ['sub'] },
      ],
    });
    const parent = await client.run(parentWorkflow);
    const done = await client.waitFor(parent.id, ['completed', 'blocked'], 90_000);
    expect(done.status).toBe('completed');

    const child = await childOf(client, childWorkflow);
    expect(child.status).toBe('completed');
    const childRun = await client.getRun(child.id);
    expect(childRun.parent).toEqual({ runId: parent.id, stepId: 'sub' });
    expect(childRun.input).toEqual({ topic: 'otters' });
    const step = await client.step(parent.id, 'sub');
    // The sinks (summary, tag) by step id; fetch is not a sink.
    expect(step.output).toEqual({ runId: child.id, outputs: { summary: { words: 3 }, tag: { tag: 'v1' } } });
    expect(step.childRun).toEqual({ runId: child.id });
    const completions = (await client.events(parent.id)).filter((event) => event.type === 'step.completed' && event.stepId === 'sub');
    expect(completions).toHaveLength(1);
    expect(completions[0]?.actor).toBe(`run:${child.id}`);
    // Waiting held no Lambda: the step was parked (step.pending) until the child ended.
    expect((await client.events(parent.id)).some((event) => event.type === 'step.pending' && event.stepId === 'sub')).toBe(true);
  });

  it('a failing child fails the parent step with its reason and blocks the parent', async () => {
    const client = await engineClient();
    const childWorkflow = await client.workflow({ name: 'failing-child', steps: [{ id: 'call', kind: 'http', input: { url: `${testAgent().url}/status/400` } }] });
    const parentWorkflow = await client.workflow({ name: 'parent', steps: [{ id: 'sub', kind: 'workflow', input: { workflowId: childWorkflow } }] });
    const parent = await client.run(parentWorkflow);
    const blocked = await client.waitFor(parent.id, ['blocked', 'completed'], 90_000);

    const child = await childOf(client, childWorkflow);
    expect(child.status).toBe('blocked');
    expect(blocked.status).toBe('blocked');
    const step = await client.step(parent.id, 'sub');
    expect(step.status).toBe('failed');
    expect(step.error).toMatchObject({ code: 'CHILD_RUN_FAILED', message: expect.stringContaining(`child run ${child.id} blocked: step call failed`) });
    expect(blocked.reason).toContain(`child run ${child.id} blocked`);
  });

  it('cancelling the parent cancels the child; pausing and resuming it does the same to the child', async () => {
    const client = await engineClient();
    const childWorkflow = await client.workflow({ name: 'waiting-child', steps: [{ id: 'gate', kind: 'approval' }] });
    const parentWorkflow = await client.workflow({ name: 'parent', steps: [{ id: 'sub', kind: 'workflow', input: { workflowId: childWorkflow } }] });
    const parent = await client.run(parentWorkflow);
    const child = await childOf(client, childWorkflow);
    await client.waitForStep(child.id, 'gate', ['needs_qa']);
    // While it waits, the parent step links to its child.
    expect((await client.waitForStep(parent.id, 'sub', ['running'])).childRun).toEqual({ runId: child.id });
    const act = (runId: string, action: 'pause' | 'resume' | 'cancel') =>
      unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId, action } } }));

    await act(parent.id, 'pause');
    expect((await client.getRun(child.id)).status).toBe('paused');
    await act(parent.id, 'resume');
    expect((await client.getRun(child.id)).status).toBe('running');
    const cancelled = await act(parent.id, 'cancel');

    expect(cancelled.status).toBe('cancelled');
    expect((await client.getRun(child.id)).status).toBe('cancelled');
    // The child's end reaches the parent step: it fails (the run stays cancelled), nothing waits.
    const step = await client.waitForStep(parent.id, 'sub', ['failed']);
    expect(step.error).toMatchObject({ code: 'CHILD_RUN_FAILED' });
  });

  it('refuses a workflow step without a workflow id, naming the field', async () => {
    const client = await engineClient();
    const refused = await client.baton.POST('/v1/projects/{projectId}/workflows', {
      params: { path: { projectId: client.projectId } },
      body: { name: 'bad', steps: [{ id: 'sub', kind: 'workflow', input: { version: 1 } }] },
    });
    expect(refused.response.status).toBe(400);
    expect((refused.error as { error: { field?: string } }).error.field).toBe('body.steps[0].input.workflowId');
  });
});
