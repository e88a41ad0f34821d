import type { SendMessageBatchCommand, SendMessageBatchResult, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createDispatcher } from '#shared/clients/step-dispatcher';
import type { Dispatch } from '#shared/engine/dispatch';

type Entry = NonNullable<SendMessageBatchCommand['input']['Entries']>[number];

const stepIdOf = (entry: Entry): string => (JSON.parse(entry.MessageBody!) as { stepId: string }).stepId;

/** A step queue that records every request and answers as `answer` says (all taken by default). */
function fakeQueue(answer: (entries: Entry[], call: number) => SendMessageBatchResult | Error = () => ({ Successful: [], Failed: [] })) {
  const requests: Entry[][] = [];
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      const entries = command.input.Entries ?? [];
      requests.push(entries);
      const result = answer(entries, requests.length);
      if (result instanceof Error) throw result;
      return result;
    },
  } as unknown as SQSClient;
  const taken = () => requests.flatMap((entries) => entries.map(stepIdOf));
  return { sqs, requests, taken };
}

const dispatches = (prefix: string, count: number): Dispatch[] =>
  Array.from({ length: count }, (_, index) => ({ message: { runId: 'run_1', stepId: `${prefix}${index}`, attempt: 0 } }));

describe('dispatcher: batched sends', () => {
  it('gathers the sends of one moment into requests of 10, each caller hearing of its own', async () => {
    const queue = fakeQueue();
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 5 });

    await Promise.all([dispatcher.send(dispatches('a', 3)), dispatcher.send(dispatches('b', 4)), dispatcher.send(dispatches('c', 18))]);

    expect(queue.requests.map((entries) => entries.length)).toEqual([10, 10, 5]);
    expect(queue.taken().sort()).toEqual([...dispatches('a', 3), ...dispatches('b', 4), ...dispatches('c', 18)].map((d) => d.message.stepId).sort());
    expect(new Set(queue.requests[0]!.map((entry) => entry.Id)).size).toBe(10);
  });

  it('keeps delays within what SQS takes', async () => {
    const queue = fakeQueue();
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 0 });

    await dispatcher.send([{ message: { runId: 'r', stepId: 'late', attempt: 1 }, delaySeconds: 5000 }, { message: { runId: 'r', stepId: 'soon', attempt: 1 }, delaySeconds: 1.2 }]);

    expect(queue.requests[0]!.map((entry) => entry.DelaySeconds)).toEqual([900, 2]);
  });

  it('tries entries SQS refused for its own reasons again', async () => {
    const queue = fakeQueue((entries, call) => (call === 1 ? { Successful: [], Failed: [{ Id: entries[1]!.Id!, SenderFault: false, Code: 'InternalError' }] } : { Successful: [], Failed: [] }));
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 0 });

    await dispatcher.send(dispatches('a', 3));

    expect(queue.requests.map((entries) => entries.length)).toEqual([3, 1]);
    expect(queue.taken().filter((id) => id === 'a1')).toHaveLength(2);
  });

  it('rejects only the caller whose message was refused, after sending everyone else’s', async () => {
    const queue = fakeQueue((entries) => {
      const bad = entries.find((entry) => stepIdOf(entry) === 'b1');
      return { Successful: [], Failed: bad ? [{ Id: bad.Id!, SenderFault: true, Code: 'InvalidParameterValue', Message: 'bad' }] : [] };
    });
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 5 });

    const [a, b, c] = await Promise.allSettled([dispatcher.send(dispatches('a', 5)), dispatcher.send(dispatches('b', 5)), dispatcher.send(dispatches('c', 15))]);

    expect(a.status).toBe('fulfilled');
    expect(c.status).toBe('fulfilled');
    expect(b.status === 'rejected' && String(b.reason)).toMatch(/did not take 1 of 5 step message\(s\).*InvalidParameterValue/);
    // A sender's fault is not retried; every other message went once.
    expect(queue.taken()).toHaveLength(25);
  });

  it('still sends the other requests when one fails outright, and gives up on refusals after 3 retries', async () => {
    const queue = fakeQueue((entries, call) => {
      if (call === 1) return new Error('connection reset');
      return { Successful: [], Failed: entries.filter((entry) => stepIdOf(entry) === 'x19').map((entry) => ({ Id: entry.Id!, SenderFault: false, Code: 'ServiceUnavailable' })) };
    });
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 0 });

    const sent = dispatcher.send(dispatches('x', 30));

    await expect(sent).rejects.toThrow(/did not take 11 of 30/);
    // 3 requests of 10, then x19 three more times; the failed request's 10 were not sent, the rest were.
    expect(queue.requests.map((entries) => entries.length).sort()).toEqual([1, 1, 1, 10, 10, 10]);
  });
});
