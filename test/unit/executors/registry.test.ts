import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { stepSpec, type StepSpec } from '#shared/domain/workflow';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { stepExecutors } from '#shared/clients/step-executors';
import { createExecutorRegistry } from '#shared/executors/executor-registry';
import { createStepKindRegistry } from '#shared/executors/registry';
import type { StepContext } from '#shared/executors/types';
import { stepContext } from '#test/fixtures/step-context';
import { createWorkflowExecutor } from '#shared/engine/sub-workflows';

const step = (value: Record<string, unknown>): StepSpec => stepSpec.parse(value);

/** The ValidationError validateInputs throws (failing the test when it throws nothing else). */
const validationErrorOf = (validate: () => void): ValidationError => {
  try {
    validate();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
};

const context: StepContext = stepContext({ stepId: 'gate', idempotencyKey: 'run_1:gate:1', allowPrivateTargets: false });

describe('executor registry', () => {
  it('offers the built-in kinds, and crash only when test kinds are asked for', () => {
    expect(createExecutorRegistry().kinds()).toEqual(['approval', 'http', 'map', 'noop', 'wait', 'webhook']);
    expect(createExecutorRegistry().get('crash')).toBeUndefined();
    expect(createExecutorRegistry({ includeTestKinds: true }).kinds()).toContain('crash');
  });

  it('accepts a workflow whose steps all have valid input', () => {
    const registry = createExecutorRegistry();

    expect(() =>
      registry.validateInputs([
        step({ id: 'a', kind: 'noop' }),
        step({ id: 'b', kind: 'approval', input: { prompt: 'Ship it?' } }),
        step({ id: 'c', kind: 'http', input: { url: 'https://agent.example.com/run' } }),
      ]),
    ).not.toThrow();
  });

  it('names the step and the known kinds when a kind is unknown', () => {
    const error = validationErrorOf(() => createExecutorRegistry().validateInputs([step({ id: 'a', kind: 'noop' }), step({ id: 'b', kind: 'crash' })]));

    expect(error.field).toBe('body.steps[1].kind');
    expect(error.message).toBe('body.steps[1].kind: unknown step kind "crash"; known kinds: approval, http, map, noop, wait, webhook');
    expect(error.status).toBe(400);
  });

  it('names the step and the field its executor refuses', () => {
    const steps = [
      step({ id: 'a', kind: 'noop' }),
      step({ id: 'b', kind: 'noop' }),
      step({ id: 'c', kind: 'noop' }),
      step({ id: 'd', kind: 'http', input: { url: 'not a url' } }),
    ];

    const error = validationErrorOf(() => createExecutorRegistry().validateInputs(steps));

    expect(error.message).toBe('body.steps[3].input.url: Invalid URL');
    expect(error.field).toBe('body.steps[3].input.url');
  });

  it('validates steps already marked done', () => {
    const error = validationErrorOf(() =>
      createExecutorRegistry().validateInputs([step({ id: 'a', kind: 'approval', done: true, input: { prompt: 'ok', extra: 1 } })]),
    );

    expect(error.field).toBe('body.steps[0].input');
    expect(error.message).toContain('extra');
  });

  it('names a missing input of a kind that needs one', () => {
    const error = validationErrorOf(() => createExecutorRegistry().validateInputs([step({ id: 'a', kind: 'http' })]));

    expect(error.field).toBe('body.steps[0].input');
  });

  it('lets noop echo its input and approval wait with its prompt', async () => {
    const registry = createExecutorRegistry();

    await expect(registry.get('noop')?.run({ n: 1 }, context)).resolves.toEqual({ status: 'completed', output: { n: 1 } });
    await expect(registry.get('noop')?.run(undefined, context)).resolves.toEqual({ status: 'completed', output: null });
    await expect(registry.get('approval')?.run({ prompt: 'Ship it?' }, context)).resolves.toEqual({
      status: 'waiting',
      reason: 'awaiting approval: Ship it?',
    });
  });
});

describe('step kind registry (the validation halves)', () => {
  const workerExecutors = (includeTestKinds: boolean) =>
    stepExecutors({
      agents: { allowedFunctions: [], functionArnPrefix: 'arn:aws:lambda:us-east-1:123456789012:function:', invoke: async () => ({}) },
      converse: async () => ({}),
      // As the step worker builds it: the `workflow` kind needs the engine, never read here.
      more: [createWorkflowExecutor(() => { throw new Error('not run in this test'); })],
    })({ documents: {} as DynamoDBDocumentClient, tableName: 'table', includeTestKinds });

  it('knows exactly the kinds the step worker runs, with the same input schemas and checks', () => {
    for (const includeTestKinds of [false, true]) {
      const kinds = createStepKindRegistry({ includeTestKinds });
      const worker = workerExecutors(includeTestKinds);

      expect(kinds.kinds()).toEqual(worker.kinds());
      for (const kind of kinds.kinds()) {
        expect(kinds.get(kind)?.input, kind).toBe(worker.get(kind)?.input);
        // checkStep included: the executor is its validation half plus run.
        expect(Object.keys(worker.get(kind) ?? {}), kind).toEqual(expect.arrayContaining(Object.keys(kinds.get(kind) ?? {})));
      }
    }
    expect(createStepKindRegistry().kinds()).toEqual(['approval', 'http', 'lambda', 'llm', 'map', 'noop', 'wait', 'webhook', 'workflow']);
  });

  it('refuses what the executors would refuse: an llm template naming a step it does not depend on, an unusable JSON Schema', () => {
    const kinds = createStepKindRegistry();
    const llm = (input: Record<string, unknown>) => step({ id: 'ask', kind: 'llm', dependsOn: ['a'], input: { provider: 'bedrock', model: 'm', maxTokens: 10, ...input } });

    expect(validationErrorOf(() => kinds.validateInputs([step({ id: 'a', kind: 'noop' }), llm({ prompt: 'Use {{dependencies.b.summary}}' })])).field).toBe('body.steps[1].input.prompt');
    expect(validationErrorOf(() => kinds.validateInputs([step({ id: 'a', kind: 'noop' }), llm({ prompt: 'x', json: { type: 'no-such-type' } })])).field).toBe('body.steps[1].input.json');
    expect(() => kinds.validateInputs([step({ id: 'a', kind: 'noop' }), llm({ prompt: 'Use {{dependencies.a.summary}}' })])).not.toThrow();
  });
});

