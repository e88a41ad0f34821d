import { DeleteRuleCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { aws } from './aws';
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
export async function subscribeToBus(name: string, pattern: Record<string, unknown>) {
  const queueUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  await aws.events.send(new PutRuleCommand({ Name: name, EventBusName: stack.busName, EventPattern: JSON.stringify(pattern) }));
  await aws.events.send(new PutTargetsCommand({ Rule: name, EventBusName: stack.busName, Targets: [{ Id: 'queue', Arn: Attributes!.QueueArn! }] }));
  return {
    /** Events delivered since the last call (waits up to a second for some). */
    async receive(): Promise<BusEvent[]> {
      const { Messages } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      return (Messages ?? []).map((message) => JSON.parse(message.Body ?? '{}') as BusEvent);
    },
    async remove(): Promise<void> {
      await aws.events.send(new RemoveTargetsCommand({ Rule: name, EventBusName: stack.busName, Ids: ['queue'] }));
      await aws.events.send(new DeleteRuleCommand({ Name: name, EventBusName: stack.busName }));
      await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    },
  };
}

export type BusSubscription = Awaited<ReturnType<typeof subscribeToBus>>;
