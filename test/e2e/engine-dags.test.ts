import { beforeEach, describe, expect, it } from 'vitest';
import { engineClient, expectDependencyOrder } from '../helpers/engine';
import { resetData } from '../helpers/reset';

beforeEach(resetData);

const noop = (id: string, dependsOn: string[] = []) => ({ id, kind: 'noop', input: { id }, dependsOn });

describe('DAG runs on the deployed engine', () => {
  it('runs a diamond in dependency order and passes outputs along', async () => {
    const client = await engineClient();
    const steps = [noop('a'), noop('b', ['a']), noop('c', ['a']), noop('d', ['b', 'c'])];
    const workflowId = await client.workflow({ name: 'diamond', steps });

    const { id } = await client.run(workflowId, { input: { topic: 'diamonds' } });
    const run = await client.waitFor(id, ['completed', 'blocked', 'failed']);

    expect(run.status).toBe('completed');
    expect(run.steps.byStatus.completed).toBe(4);
    expectDependencyOrder(await client.events(id), steps);
    expect((await client.step(id, 'd')).output).toEqual({ id: 'd' });
  });

  it('fans out to 50 steps and back in to one', async () => {
    const client = await engineClient();
    const middle = Array.from({ length: 50 }, (_, index) => noop(`m${index}`, ['root']));
    const steps = [noop('root'), ...middle, noop('join', middle.map((step) => step.id))];
    const workflowId = await client.workflow({ name: 'fan', steps });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked', 'failed'], 120_000);
    const events = await client.events(id);

    expect(run.status).toBe('completed');
    expect(run.steps.byStatus.completed).toBe(52);
    expectDependencyOrder(events, steps);
    expect(events.filter((event) => event.stepId === 'join' && event.type === 'step.queued')).toHaveLength(1);
  });

  it('runs a chain of 30 one step after another', async () => {
    const client = await engineClient();
    const steps = Array.from({ length: 30 }, (_, index) => noop(`s${index}`, index === 0 ? [] : [`s${index - 1}`]));
    const workflowId = await client.workflow({ name: 'chain', steps });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked', 'failed'], 120_000);

    expect(run.status).toBe('completed');
    expectDependencyOrder(await client.events(id), steps);
  });

  it('releases a step with 20 parents exactly once when they finish together', async () => {
    const client = await engineClient();
    const parents = Array.from({ length: 20 }, (_, index) => noop(`p${index}`));
    const steps = [...parents, noop('child', parents.map((parent) => parent.id))];
    const workflowId = await client.workflow({ name: 'twenty-parents', steps });

    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed', 'blocked', 'failed'], 120_000);
    const events = (await client.events(id)).filter((event) => event.stepId === 'child');

    expect(events.filter((event) => event.type === 'step.queued')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'step.started')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'step.completed')).toHaveLength(1);
  });

  it('refuses a workflow with a cycle, a missing dependency or a duplicate id, naming the steps', async () => {
    const client = await engineClient();
    const refusal = (steps: ReturnType<typeof noop>[]) => client.workflow({ name: 'bad', steps }).catch((error: unknown) => error);

    const cycle = await refusal([noop('a', ['c']), noop('b', ['a']), noop('c', ['b'])]);
    const missing = await refusal([noop('a', ['ghost'])]);
    const duplicate = await refusal([noop('a'), noop('a')]);

    expect(cycle).toMatchObject({ status: 400, message: expect.stringMatching(/cycle.*a.*b.*c|cycle.*b.*c.*a/) });
    expect(missing).toMatchObject({ status: 400, message: expect.stringContaining('ghost') });
    expect(duplicate).toMatchObject({ status: 400, message: expect.stringContaining('"a"') });
  });
});
