import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { aws } from './aws';
import { eventually } from './poll';
import { stack } from './stack';

const counts = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;

/**
 * Polls until the step queue holds nothing: no message waiting, none in a worker's hands, none
 * delayed. Every step message sent so far has then been handled, so whatever it would have
 * done is done (instead of sleeping "long enough" for stragglers).
 */
export async function stepQueueDrained(timeoutMs = 30_000): Promise<void> {
  await eventually('the step queue to be drained', async () => {
    const { Attributes = {} } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.stepQueueUrl, AttributeNames: [...counts] }));
    return counts.every((name) => Number(Attributes[name] ?? 0) === 0) ? true : undefined;
  }, { timeoutMs, intervalMs: 300 });
}
