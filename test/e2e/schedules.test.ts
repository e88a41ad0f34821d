import { beforeEach, describe, expect, it } from 'vitest';
import { api } from '../helpers/api';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';

beforeEach(resetData);

interface Schedule {
  id: string;
  state: string;
  expression: string;
}

const runsOf = async (client: EngineClient, workflowId: string) =>
  (await api<{ items: { id: string }[] }>('GET', `/v1/projects/${client.project.id}/runs?workflowId=${workflowId}&limit=100`, { token: client.token })).body.items;

/** at(…) wants local time in the schedule's zone, without offset: UTC here. */
const atIn = (seconds: number) => `at(${new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19)})`;

describe('schedules on the deployed stack', () => {
  it('fires a one-time schedule once', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once-at', steps: [{ id: 'a', kind: 'noop' }] });

    const created = await api<Schedule>('POST', `/v1/projects/${client.project.id}/schedules`, { token: client.token, body: { workflowId, expression: atIn(5), input: { from: 'schedule' } } });
    const [run] = await eventually('the scheduled run', async () => {
      const runs = await runsOf(client, workflowId);
      return runs.length > 0 ? runs : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000 });
    const completed = await client.waitFor(run!.id, ['completed', 'blocked']);
    // Past its moment a one-time schedule never fires again (checked over two scheduler ticks).
    await new Promise((resolve) => setTimeout(resolve, 25_000));

    const listed = await api<{ items: Schedule[] }>('GET', `/v1/projects/${client.project.id}/schedules`, { token: client.token });

    expect(created.status).toBe(201);
    expect(completed.status).toBe('completed');
    expect(await runsOf(client, workflowId)).toHaveLength(1);
    // Done: it no longer counts against the project's schedules.
    expect(listed.body.items).toEqual([]);
  }, 120_000);

  it('holds a project to its schedule quota (10 locally), and gives a place back when one is deleted', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'far-away', steps: [{ id: 'a', kind: 'noop' }] });
    const create = () => api<Schedule & { error?: { code: string; message: string } }>('POST', `/v1/projects/${client.project.id}/schedules`, { token: client.token, body: { workflowId, expression: 'at(2099-01-01T00:00:00)' } });

    const first = [];
    for (let index = 0; index < 10; index += 1) first.push(await create());
    const over = await create();
    const removed = await api('DELETE', `/v1/projects/${client.project.id}/schedules/${first[0]!.body.id}`, { token: client.token });
    const again = await create();

    expect(first.map((response) => response.status)).toEqual(Array(10).fill(201));
    expect(over.status).toBe(409);
    expect(over.body.error?.message).toMatch(/at most 10 schedules/);
    expect(removed.status).toBe(204);
    expect(again.status).toBe(201);
  });

  it('starts runs on a rate schedule; pausing and deleting it stops them', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'every-minute', steps: [{ id: 'a', kind: 'noop' }] });

    const created = await api<Schedule>('POST', `/v1/projects/${client.project.id}/schedules`, { token: client.token, body: { workflowId, expression: 'rate(1 minute)' } });
    const listed = await api<{ items: Schedule[] }>('GET', `/v1/projects/${client.project.id}/schedules`, { token: client.token });
    await eventually('a run started by the schedule', async () => ((await runsOf(client, workflowId)).length > 0 ? true : undefined), { timeoutMs: 100_000, intervalMs: 2_000 });
    const paused = await api<Schedule>('POST', `/v1/projects/${client.project.id}/schedules/${created.body.id}/actions/pause`, { token: client.token });
    const deleted = await api('DELETE', `/v1/projects/${client.project.id}/schedules/${created.body.id}`, { token: client.token });
    const runsAfterDelete = (await runsOf(client, workflowId)).length;
    // A rate(1 minute) schedule that still existed would fire within this window.
    await new Promise((resolve) => setTimeout(resolve, 75_000));

    expect(created.status).toBe(201);
    expect(listed.body.items.map((schedule) => schedule.id)).toEqual([created.body.id]);
    expect(paused.body.state).toBe('DISABLED');
    expect(deleted.status).toBe(204);
    expect((await runsOf(client, workflowId)).length).toBe(runsAfterDelete);
  }, 240_000);

  it('refuses a bad expression naming the field, and a schedule for a missing workflow', async () => {
    const client = await engineClient();

    const bad = await api<{ error: { field: string } }>('POST', `/v1/projects/${client.project.id}/schedules`, { token: client.token, body: { workflowId: 'wf_00000000000000000000000000', expression: 'every tuesday' } });
    const missing = await api('POST', `/v1/projects/${client.project.id}/schedules`, { token: client.token, body: { workflowId: 'wf_00000000000000000000000000', expression: 'rate(5 minutes)' } });

    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('body.expression');
    expect(missing.status).toBe(404);
  });
});
