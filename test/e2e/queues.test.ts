import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { aws } from '../helpers/aws';
import { emfLinesSince, withMetric } from '../helpers/emf';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { installationClient } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(async () => {
  await resetData();
  await aws.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.stepParkedQueueUrl }));
});

describe('queue inspection and redrive on the deployed stack (installation admin)', () => {
  it('shows a poison step in steps-parked, peeks its run and step without consuming it, and a redrive runs it again', async () => {
    const since = Date.now() - 5_000;
    const client = await engineClient('queues');
    const admin = await installationClient();
    // Attempts 1-5 kill the worker: the fifth receive dead-letters the message (its run blocks,
    // the DLQ handler parks it). The redrive's new attempt is the sixth, which the step survives:
    // the "fix" is that the poison only lasts five attempts.
    const workflowId = await client.workflow({
      name: 'poison',
      steps: [{ id: 'poison', kind: 'crash', input: { crashUntilAttempt: 6 }, retry: { maxAttempts: 20, backoffBaseSeconds: 1, backoffCapSeconds: 10, jitter: 'none' } }],
    });
    const { id } = await client.run(workflowId);
    const blocked = await client.waitFor(id, ['blocked', 'completed'], 240_000);
    expect(blocked.status).toBe('blocked');
    expect(await client.step(id, 'poison')).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
    // The DLQ handler counted it: StepsDeadLettered by kind, as EMF on its log (README "Baton's metrics").
    const deadLettered = await eventually('StepsDeadLettered as EMF', async () => withMetric(await emfLinesSince(since), 'StepsDeadLettered').find(({ document }) => document.kind === 'crash'), { timeoutMs: 60_000, intervalMs: 1_000 });
    expect(deadLettered.logGroup).toMatch(/DlqHandler/);
    expect(deadLettered.document).toMatchObject({ stage: stack.stage, kind: 'crash', StepsDeadLettered: expect.any(Number) });

    // GET /v1/queues counts it in steps-parked.
    const listed = await eventually('the dead letter to be parked', async () => {
      const { items } = await unwrap(admin.GET('/v1/queues'));
      return items.find((queue) => queue.name === 'steps-parked' && queue.visible === 1) ? items : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    expect(listed.map((queue) => queue.name)).toEqual(['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq']);
    expect(listed.find((queue) => queue.name === 'steps-parked')).toMatchObject({ deadLetter: true, peekable: true, redriveTo: 'steps', oldestAgeSeconds: expect.any(Number) });
    expect(listed.find((queue) => queue.name === 'steps')).toMatchObject({ peekable: false, oldestAgeSeconds: null });

    // A peek shows its run, step, attempt and error, twice: nothing is consumed.
    const peek = () => unwrap(admin.GET('/v1/queues/{name}/messages', { params: { path: { name: 'steps-parked' } } }));
    const first = await peek();
    const second = await peek();
    expect(first.messages).toEqual([expect.objectContaining({ runId: id, stepId: 'poison', attempt: expect.any(Number), error: expect.objectContaining({ code: 'DEAD_LETTERED' }) })]);
    expect(second.messages.map((message) => message.messageId)).toEqual(first.messages.map((message) => message.messageId));
    expect(second.messages[0]!.receiveCount).toBeGreaterThan(first.messages[0]!.receiveCount);

    // The redrive moves it back to the step queue; the worker resumes the run and the step runs.
    const redrive = await unwrap(admin.POST('/v1/queues/{name}/redrive', { params: { path: { name: 'steps-parked' } } }));
    expect(redrive).toMatchObject({ name: 'steps-parked', destination: 'steps', method: expect.stringMatching(/^(message-move-task|emulator-copy)$/) });
    const completed = await client.waitFor(id, ['completed'], 90_000);
    const step = await client.step(id, 'poison');
    const events = (await client.events(id)).map((event) => event.type);

    expect(completed.status).toBe('completed');
    expect(step).toMatchObject({ status: 'completed', output: { survivedAttempt: 6 } });
    expect(events).toContain('run.retried');
    await eventually('steps-parked to be empty', async () => {
      const { items } = await unwrap(admin.GET('/v1/queues'));
      return items.find((queue) => queue.name === 'steps-parked' && queue.visible + queue.inFlight === 0);
    }, { timeoutMs: 10_000, intervalMs: 500 });
  }, 420_000);

  it("answers 404 to an unknown queue, 409 to a peek of a consumed queue, and 403 to a project admin's token", async () => {
    const client = await engineClient('queues-auth');
    const admin = await installationClient();

    const unknown = await admin.GET('/v1/queues/{name}/messages', { params: { path: { name: 'nope' } } });
    const consumed = await admin.GET('/v1/queues/{name}/messages', { params: { path: { name: 'steps' } } });
    const notRedrivable = await admin.POST('/v1/queues/{name}/redrive', { params: { path: { name: 'reactions-dlq' } } });
    const asProject = await client.baton.GET('/v1/queues');
    const redriveAsProject = await client.baton.POST('/v1/queues/{name}/redrive', { params: { path: { name: 'steps-parked' } } });

    expect(unknown.response.status).toBe(404);
    expect(consumed.response.status).toBe(409);
    expect(notRedrivable.response.status).toBe(409);
    expect(asProject.response.status).toBe(403);
    expect(redriveAsProject.response.status).toBe(403);
  });
});
