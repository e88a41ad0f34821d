import { InvokeCommand } from '@aws-sdk/client-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient, type RunEvent } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

/**
 * Guards against runaway agents on the deployed stack (issue 12 §5): a step re-run with the same
 * output stops with NO_PROGRESS, maxExecutedSteps stops a run and a raise + resume completes it,
 * maxDurationSeconds blocks a run at a claim and, idle, by the sweeper's timer; a fork keeps its
 * source's budget and limits; bad limits are 400s naming the field.
 */

const ofType = (events: RunEvent[], type: string) => events.filter((event) => event.type === type);
const chain = (name: string, length: number): SaveWorkflowBody => ({
  name,
  steps: Array.from({ length }, (_, index) => ({ id: `s${index + 1}`, kind: 'noop', dependsOn: index ? [`s${index}`] : [], input: { n: index + 1 } })),
});

/** Runs the deployed sweeper now, as its schedule would. */
async function runSweeper(): Promise<{ runsPastDuration: number }> {
  const response = await aws.lambda.send(new InvokeCommand({ FunctionName: stack.sweeperFunction, Payload: new TextEncoder().encode('{}') }));
  expect(response.FunctionError).toBeUndefined();
  return JSON.parse(new TextDecoder().decode(response.Payload)) as { runsPastDuration: number };
}

let client: EngineClient;
beforeEach(async () => {
  await resetData();
  client = await engineClient('guards');
});

const rerun = (runId: string, stepId: string, body: { input?: unknown } = {}) =>
  unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId, stepId } }, body }));
const resume = (runId: string) => client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId, action: 'resume' } } });
const setLimits = (runId: string, body: Record<string, unknown>) => client.baton.PUT('/v1/runs/{runId}/limits', { params: { path: { runId } }, body });

describe('NO_PROGRESS', () => {
  it('a step re-run again and again with the same output stops with NO_PROGRESS at the third identical output; a re-run with a new input goes on', async () => {
    // Prepare: draft (its output is its input) → publish
    const workflowId = await client.workflow({ name: 'loop', steps: [{ id: 'draft', kind: 'noop', input: { text: 'same' } }, { id: 'publish', kind: 'noop', dependsOn: ['draft'] }] });
    const { id } = await client.run(workflowId);
    expect((await client.waitFor(id, ['completed', 'blocked'])).status).toBe('completed');

    // Act: re-run draft twice with nothing new
    await rerun(id, 'draft');
    expect((await client.waitFor(id, ['completed', 'blocked'])).status).toBe('completed');
    await rerun(id, 'draft');
    const stopped = await client.waitFor(id, ['completed', 'blocked']);

    // Assess: blocked with the reason, the step failed NO_PROGRESS, publish did not run a third time
    expect(stopped.status).toBe('blocked');
    expect(stopped.reason).toMatch(/^NO_PROGRESS: step draft produced the same output \(sha256 [\w-]{22}\) 3 times in a row \(limits.noProgressAfter 3\)/);
    expect(stopped.failedSteps).toEqual(['draft']);
    expect(stopped.limits).toMatchObject({ noProgressAfter: 3, executedSteps: 5 });
    const draft = await client.step(id, 'draft');
    expect(draft).toMatchObject({ status: 'failed', error: { code: 'NO_PROGRESS', retryable: false } });
    expect((await client.step(id, 'publish')).status).toBe('pending');
    const events = await client.events(id);
    expect(ofType(events, 'limit.exceeded').map((event) => event.detail)).toEqual([expect.objectContaining({ code: 'NO_PROGRESS', limit: 'noProgressAfter', value: 3, stepId: 'draft', repeats: 3 })]);
    expect(ofType(events, 'run.blocked').at(-1)?.detail).toMatchObject({ code: 'NO_PROGRESS', stepId: 'draft' });
    expect(events.filter((event) => event.stepId === 'publish' && event.type === 'step.started')).toHaveLength(2);

    // Act: a person re-runs it with a new input
    await rerun(id, 'draft', { input: { text: 'better' } });
    const done = await client.waitFor(id, ['completed', 'blocked']);

    // Assess
    expect(done.status, done.reason).toBe('completed');
    expect((await client.step(id, 'draft')).output).toEqual({ text: 'better' });
    expect((await client.step(id, 'publish')).status).toBe('completed');
  }, 120_000);
});

describe('maxExecutedSteps', () => {
  it('stops a run before the execution past the limit (it never starts); raising the limit and resuming completes the run', async () => {
    const workflowId = await client.workflow(chain('counted', 4));
    const created = await client.run(workflowId, { limits: { maxExecutedSteps: 2 } });
    expect(created.limits).toEqual({ maxExecutedSteps: 2 });

    const blocked = await client.waitFor(created.id, ['blocked', 'completed']);

    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toMatch(/^MAX_EXECUTED_STEPS: step s3 would be execution 3, and the run's limits.maxExecutedSteps is 2/);
    expect(blocked.heldSteps).toEqual(['s3']);
    expect(blocked.limits).toMatchObject({ maxExecutedSteps: 2, executedSteps: 2 });
    const events = await client.events(created.id);
    expect(events.some((event) => event.stepId === 's3' && event.type === 'step.started')).toBe(false);
    expect(ofType(events, 'limit.exceeded').map((event) => event.detail)).toEqual([expect.objectContaining({ code: 'MAX_EXECUTED_STEPS', limit: 'maxExecutedSteps', value: 2, executed: 2, stepId: 's3' })]);
    expect(ofType(events, 'run.blocked')[0]?.detail).toMatchObject({ code: 'MAX_EXECUTED_STEPS', stepId: 's3' });

    // Act: raise (an editor), then resume
    const raised = await unwrap(setLimits(created.id, { maxExecutedSteps: 10 }));
    expect(raised.limits).toMatchObject({ maxExecutedSteps: 10, executedSteps: 2 });
    await unwrap(resume(created.id));
    const done = await client.waitFor(created.id, ['completed', 'blocked']);

    expect(done.status, done.reason).toBe('completed');
    expect(done.limits).toMatchObject({ maxExecutedSteps: 10, executedSteps: 4 });
    expect(ofType(await client.events(created.id), 'limits.changed').map((event) => event.detail)).toEqual([{ limits: { maxExecutedSteps: 10 }, previous: { maxExecutedSteps: 2 } }]);
  }, 90_000);

  it("a project's settings.limits are every new run's defaults, field by field", async () => {
    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { limits: { maxExecutedSteps: 1, maxDurationSeconds: 3600 } } }));
    const workflowId = await client.workflow(chain('defaults', 2));
    const own = await client.run(workflowId, { limits: { maxExecutedSteps: 5 } });
    const taken = await client.run(workflowId);
    expect(own.limits).toEqual({ maxExecutedSteps: 5, maxDurationSeconds: 3600 });
    expect((await client.waitFor(own.id, ['completed', 'blocked'])).status).toBe('completed');
    expect((await client.waitFor(taken.id, ['completed', 'blocked'])).reason).toMatch(/^MAX_EXECUTED_STEPS: step s2/);
  }, 90_000);
});

describe('maxDurationSeconds', () => {
  it('a step that would start past the deadline does not: the run blocks with MAX_DURATION, resume is refused until a raise, then it completes', async () => {
    // Prepare: a 6 s wait between two steps of a run limited to 3 s
    const workflowId = await client.workflow({ name: 'slow', steps: [{ id: 'first', kind: 'noop' }, { id: 'pause', kind: 'wait', input: { seconds: 6 }, dependsOn: ['first'] }, { id: 'last', kind: 'noop', dependsOn: ['pause'] }] });
    const { id } = await client.run(workflowId, { limits: { maxDurationSeconds: 3 } });

    const blocked = await client.waitFor(id, ['blocked', 'completed'], 60_000);

    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toMatch(/^MAX_DURATION: the run started at .* past its limits.maxDurationSeconds of 3s/);
    expect(blocked.limits?.deadline).toBe(new Date(Date.parse(blocked.startedAt!) + 3000).toISOString());
    expect(ofType(await client.events(id), 'limit.exceeded')[0]?.detail).toMatchObject({ code: 'MAX_DURATION', limit: 'maxDurationSeconds', value: 3 });
    const refused = await resume(id);
    expect(refused.response.status).toBe(409);
    expect(refused.error?.error.message).toMatch(/past its limits.maxDurationSeconds \(3s/);

    await unwrap(setLimits(id, { maxDurationSeconds: 3600 }));
    await unwrap(resume(id));
    const done = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(done.status, done.reason).toBe('completed');
  }, 120_000);

  it('an idle run (waiting for an approval) is blocked by the sweeper once past its deadline', async () => {
    const workflowId = await client.workflow({ name: 'idle', steps: [{ id: 'review', kind: 'approval' }] });
    const { id } = await client.run(workflowId, { limits: { maxDurationSeconds: 2 } });
    await client.waitForStep(id, 'review', ['needs_qa']);

    // Act: the sweeper, as its schedule would, until the deadline has passed
    const blocked = await eventually('the sweeper to block the run', async () => ((await runSweeper()).runsPastDuration > 0 ? client.getRun(id) : undefined), { timeoutMs: 30_000, intervalMs: 1000 });

    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toMatch(/^MAX_DURATION: /);
    expect(ofType(await client.events(id), 'run.blocked')[0]?.detail).toMatchObject({ code: 'MAX_DURATION' });
    expect((await client.step(id, 'review')).status).toBe('needs_qa');
  }, 60_000);
});

describe('limits input and forks', () => {
  it('refuses bad limits with a 400 naming the field, and changes nothing', async () => {
    const workflowId = await client.workflow(chain('bad', 1));
    const zero = await client.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId } }, body: { workflowId, limits: { maxExecutedSteps: 0 } } });
    expect(zero.response.status).toBe(400);
    expect(zero.error?.error.field).toBe('body.limits.maxExecutedSteps');
    const run = await client.run(workflowId, { start: false });
    const negative = await setLimits(run.id, { maxDurationSeconds: -1 });
    expect(negative.response.status).toBe(400);
    expect(negative.error?.error.field).toBe('body.maxDurationSeconds');
    const unknown = await setLimits(run.id, { maxSteps: 3 });
    expect(unknown.response.status).toBe(400);
    const settings = await client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { limits: { noProgressAfter: 1 } } });
    expect(settings.response.status).toBe(400);
    expect(settings.error?.error.field).toBe('body.limits.noProgressAfter');
    expect((await client.getRun(run.id)).limits).toEqual({ noProgressAfter: 3, executedSteps: 0 });
  }, 60_000);

  it("a fork keeps its source's budget and limits, not the project's defaults, unless the request gives its own", async () => {
    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { budgets: { perRun: { tokens: 1, mode: 'strict' } }, limits: { maxExecutedSteps: 1 } } }));
    const workflowId = await client.workflow(chain('forked', 2));
    const source = await client.run(workflowId, { budget: { tokens: 50_000, mode: 'warn' }, limits: { maxExecutedSteps: 20, noProgressAfter: 5 } });
    expect((await client.waitFor(source.id, ['completed', 'blocked'])).status).toBe('completed');

    const carried = await unwrap(client.baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: source.id } }, body: { fromStep: 's2' } }));
    const own = await unwrap(client.baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: source.id } }, body: { fromStep: 's2', budget: { usd: 1, mode: 'strict' }, limits: { maxDurationSeconds: 600 } } }));

    expect(carried).toMatchObject({ budget: { tokens: 50_000, mode: 'warn' }, limits: { maxExecutedSteps: 20, noProgressAfter: 5 } });
    expect(own).toMatchObject({ budget: { usd: 1, mode: 'strict' }, limits: { maxDurationSeconds: 600 } });
    expect((await client.waitFor(carried.id, ['completed', 'blocked'])).status).toBe('completed');
  }, 90_000);
});
