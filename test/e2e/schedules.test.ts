import { GetScheduleCommand, type GetScheduleCommandOutput } from '@aws-sdk/client-scheduler';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

const runsOf = async (client: EngineClient, workflowId: string) =>
  (await unwrap(client.baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId }, query: { workflowId, limit: 100 } } }))).items;

const schedules = (client: EngineClient) => unwrap(client.baton.GET('/v1/projects/{projectId}/schedules', { params: { path: { projectId: client.projectId } } }));

/** at(…) wants local time in the schedule's zone, without offset: UTC here. */
const atIn = (seconds: number) => `at(${new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19)})`;

/** The schedule as EventBridge Scheduler holds it (in the stage's group), or undefined once it is gone. */
const schedulerEntry = async (scheduleId: string): Promise<GetScheduleCommandOutput | undefined> => {
  try {
    return await aws.scheduler.send(new GetScheduleCommand({ Name: scheduleId, GroupName: `baton-${stack.stage}` }));
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
};

/** Polls until Scheduler no longer has the schedule: from then on nothing can fire it. */
const schedulerForgets = (scheduleId: string) =>
  eventually(`schedule ${scheduleId} to be gone from EventBridge Scheduler`, async () => ((await schedulerEntry(scheduleId)) ? undefined : true), { timeoutMs: 30_000, intervalMs: 500 });

describe('schedules on the deployed stack', () => {
  it('fires a one-time schedule once', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once-at', steps: [{ id: 'a', kind: 'noop' }] });

    const created = await unwrap(
      client.baton.POST('/v1/projects/{projectId}/schedules', { params: { path: { projectId: client.projectId } }, body: { workflowId, expression: atIn(5), input: { from: 'schedule' } } }),
    );
    const scheduled = await schedulerEntry(created.id);
    const [run] = await eventually('the scheduled run', async () => {
      const runs = await runsOf(client, workflowId);
      return runs.length > 0 ? runs : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000 });
    const completed = await client.waitFor(run!.id, ['completed', 'blocked']);
    // Past its moment a one-time schedule is deleted from Scheduler (nothing left to fire again)
    // and gives its place in the project's quota back.
    await schedulerForgets(created.id);
    const listed = await eventually('the fired schedule to leave the listing', async () => {
      const { items } = await schedules(client);
      return items.length === 0 ? items : undefined;
    });

    expect(scheduled).toMatchObject({ State: 'ENABLED', ActionAfterCompletion: 'DELETE' });
    expect(completed.status).toBe('completed');
    expect(await runsOf(client, workflowId)).toHaveLength(1);
    expect(listed).toEqual([]);
  }, 120_000);

  it('holds a project to its schedule quota (10 locally), and gives a place back when one is deleted', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'far-away', steps: [{ id: 'a', kind: 'noop' }] });
    const create = () => client.baton.POST('/v1/projects/{projectId}/schedules', { params: { path: { projectId: client.projectId } }, body: { workflowId, expression: 'at(2099-01-01T00:00:00)' } });

    const first = [];
    for (let index = 0; index < 10; index += 1) first.push(await create());
    const over = await create();
    const removed = await client.baton.DELETE('/v1/projects/{projectId}/schedules/{scheduleId}', { params: { path: { projectId: client.projectId, scheduleId: first[0]!.data!.id } } });
    const again = await create();

    expect(first.map(({ response }) => response.status)).toEqual(Array(10).fill(201));
    expect(over.response.status).toBe(409);
    expect(over.error?.error.message).toMatch(/at most 10 schedules/);
    expect(removed.response.status).toBe(204);
    expect(again.response.status).toBe(201);
  });

  it('starts runs on a rate schedule; pausing and deleting it stops them', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'every-minute', steps: [{ id: 'a', kind: 'noop' }] });
    const path = { projectId: client.projectId };

    const created = await unwrap(client.baton.POST('/v1/projects/{projectId}/schedules', { params: { path }, body: { workflowId, expression: 'rate(1 minute)' } }));
    const listed = await schedules(client);
    await eventually('a run started by the schedule', async () => ((await runsOf(client, workflowId)).length > 0 ? true : undefined), { timeoutMs: 100_000, intervalMs: 2_000 });
    const paused = await unwrap(client.baton.POST('/v1/projects/{projectId}/schedules/{scheduleId}/actions/{action}', { params: { path: { ...path, scheduleId: created.id, action: 'pause' } } }));
    const pausedInScheduler = await schedulerEntry(created.id);
    const deleted = await client.baton.DELETE('/v1/projects/{projectId}/schedules/{scheduleId}', { params: { path: { ...path, scheduleId: created.id } } });
    // Gone from Scheduler: no later tick can start a run (instead of watching a minute go by).
    await schedulerForgets(created.id);
    const runsAfterDelete = (await runsOf(client, workflowId)).length;

    expect(listed.items.map((schedule) => schedule.id)).toEqual([created.id]);
    expect(paused.state).toBe('DISABLED');
    expect(pausedInScheduler?.State).toBe('DISABLED');
    expect(deleted.response.status).toBe(204);
    expect((await schedules(client)).items).toEqual([]);
    expect(runsAfterDelete).toBe(1);
  }, 240_000);

  it('refuses a bad expression naming the field, and a schedule for a missing workflow', async () => {
    const client = await engineClient();
    const create = (expression: string) =>
      unwrap(client.baton.POST('/v1/projects/{projectId}/schedules', { params: { path: { projectId: client.projectId } }, body: { workflowId: 'wf_00000000000000000000000000', expression } })).catch((error: unknown) => error);

    const bad = await create('every tuesday');
    const missing = await create('rate(5 minutes)');

    expect(bad).toMatchObject({ status: 400, field: 'body.expression' });
    expect(missing).toMatchObject({ status: 404 });
  });
});
