import { DeleteRuleCommand, PutEventsCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { aws } from './aws';
import { eventually } from './poll';
import { stack } from './stack';

export interface BusEvent {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown> & { id?: string; projectId?: string; runId?: string };
}

/**
 * A user's subscription to the Baton bus, as a user would make it: a rule with `pattern` whose
 * target is a queue of its own. Create it in beforeAll, `remove()` it in afterAll.
 */
export async function subscribeToBus(name: string, pattern: { source: string[]; 'detail-type'?: string[] } & Record<string, unknown>) {
  const queueUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  await aws.events.send(new PutRuleCommand({ Name: name, EventBusName: stack.busName, EventPattern: JSON.stringify(pattern) }));
  await aws.events.send(new PutTargetsCommand({ Rule: name, EventBusName: stack.busName, Targets: [{ Id: 'queue', Arn: Attributes!.QueueArn! }] }));
  const receive = async (): Promise<BusEvent[]> => {
    const { Messages } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    return (Messages ?? []).map((message) => JSON.parse(message.Body ?? '{}') as BusEvent);
  };
  let probes = 0;
  return {
    /** Events delivered since the last call (waits up to a second for some). */
    receive,
    /**
     * Every event put on the bus before this call, delivered: puts a probe event of its own that
     * the rule matches and receives until the probe arrives (the emulator delivers a bus's events
     * to a queue in the order they were put). Returns what came before the probe, without it.
     * The state probe for "nothing else is on its way", where a fixed wait would only guess.
     */
    async settle(timeoutMs = 20_000): Promise<BusEvent[]> {
      const probeId = `settle-probe-${name}-${(probes += 1)}`;
      await aws.events.send(
        new PutEventsCommand({ Entries: [{ EventBusName: stack.busName, Source: pattern.source[0], DetailType: pattern['detail-type']?.[0] ?? 'settle.probe', Detail: JSON.stringify({ settleProbe: probeId }) }] }),
      );
      const received: BusEvent[] = [];
      await eventually(`the probe event ${probeId} on ${name}`, async () => {
        received.push(...(await receive()));
        return received.some((event) => event.detail.settleProbe === probeId) ? true : undefined;
      }, { timeoutMs, intervalMs: 0 });
      return received.filter((event) => event.detail.settleProbe === undefined);
    },
    async remove(): Promise<void> {
      await aws.events.send(new RemoveTargetsCommand({ Rule: name, EventBusName: stack.busName, Ids: ['queue'] }));
      await aws.events.send(new DeleteRuleCommand({ Name: name, EventBusName: stack.busName }));
      await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    },
  };
}

export type BusSubscription = Awaited<ReturnType<typeof subscribeToBus>>;
