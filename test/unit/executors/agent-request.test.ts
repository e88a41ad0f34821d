import { describe, expect, it } from 'vitest';
import { agentRequest } from '#shared/executors/agent-reply';
import { stepContext } from '#test/fixtures/step-context';

describe('the agent request (http body, lambda payload)', () => {
  it('carries the step, its attempt, the execution key, the input, dependencies and run input', () => {
    const context = stepContext({ attempt: 2, runInput: { pr: 7 }, dependencyOutputs: { draft: { text: 'v1' } } });

    expect(agentRequest({ task: 'review' }, context)).toEqual({
      runId: 'run_1',
      stepId: 'step',
      attempt: 2,
      idempotencyKey: 'run_1:step:1',
      input: { task: 'review' },
      dependencies: { draft: { text: 'v1' } },
      runInput: { pr: 7 },
    });
  });

  it('sends null for a missing input or run input, and the callback URLs when the step may call back', () => {
    const callback = { url: 'https://api/v1/callbacks/t', heartbeatUrl: 'https://api/v1/callbacks/t/heartbeat' };

    expect(agentRequest(undefined, stepContext({ runInput: undefined, callback }))).toMatchObject({ input: null, runInput: null, callback });
    expect(agentRequest(undefined, stepContext())).not.toHaveProperty('callback');
  });
});
