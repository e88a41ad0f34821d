import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { addUsage, emptyUsage, type Usage } from '#shared/clients/usage-meter';
import { keys } from './keys';

/** Adds AWS usage to a run's own total (its `USAGE` item; the API adds its steps' to it). */
export type RunUsageRecorder = (runId: string, usage: Usage) => Promise<void>;

const isConditionFailure = (error: unknown) => (error as Error).name === 'ConditionalCheckFailedException';

/**
 * Records usage on the run's own usage item (`RUN#r / USAGE`, written with the run; no index, so
 * one write unit) with one UpdateItem (ADD, so concurrent invocations add up without reading).
 * A run created before that item existed keeps its usage on the run item, as then. The write
 * also charges itself: one UpdateItem call and the write units the previous such write to this
 * run consumed (1 at first), so the run's total includes the cost of keeping it.
 */
export function createRunUsageRecorder({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): RunUsageRecorder {
  // Write units of the last usage write per run (a small, bounded cache: one entry per run this instance served lately).
  const lastCost = new Map<string, number>();
  const remember = (runId: string, units: number) => {
    lastCost.delete(runId);
    lastCost.set(runId, units);
    if (lastCost.size > 1_000) lastCost.delete(lastCost.keys().next().value!);
  };

  return async (runId, spent) => {
    const self: Usage = { ...emptyUsage(), calls: { 'DynamoDB.UpdateItem': 1 }, dynamodb: { readUnits: 0, writeUnits: lastCost.get(runId) ?? 1 } };
    const usage = addUsage(spent, self);
    const names: Record<string, string> = { '#usage': 'usage', '#calls': 'calls', '#dynamodb': 'dynamodb' };
    const values: Record<string, number> = {
      ':readUnits': usage.dynamodb.readUnits,
      ':writeUnits': usage.dynamodb.writeUnits,
      ':sqs': usage.sqsBillableRequests,
      ':events': usage.eventsPublished,
    };
    const adds = [
      '#usage.#dynamodb.readUnits :readUnits',
      '#usage.#dynamodb.writeUnits :writeUnits',
      '#usage.sqsBillableRequests :sqs',
      '#usage.eventsPublished :events',
    ];
    if (usage.lambdaInvocations) {
      values[':lambda'] = usage.lambdaInvocations;
      adds.push('#usage.lambdaInvocations :lambda');
    }
    if (usage.lambdaComputeMs) {
      values[':computeMs'] = usage.lambdaComputeMs;
      adds.push('#usage.lambdaComputeMs :computeMs');
    }
    if (usage.lambdaGbSeconds) {
      values[':gbSeconds'] = usage.lambdaGbSeconds;
      adds.push('#usage.lambdaGbSeconds :gbSeconds');
    }
    // Call names hold dots (`DynamoDB.UpdateItem`): always through placeholders.
    Object.entries(usage.calls).forEach(([call, count], index) => {
      names[`#call${index}`] = call;
      values[`:call${index}`] = count;
      adds.push(`#usage.#calls.#call${index} :call${index}`);
    });
    /** ADD into the usage map of one item; false when it has none (ADD into a nested path needs its maps). */
    const addTo = async (key: { pk: string; sk: string }): Promise<boolean> => {
      try {
        const { ConsumedCapacity } = await documents.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: `ADD ${adds.join(', ')}`,
            ConditionExpression: 'attribute_exists(#usage.#calls) AND attribute_exists(#usage.#dynamodb)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        remember(runId, Math.max(1, Math.ceil(ConsumedCapacity?.CapacityUnits ?? 1)));
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return false;
      }
    };
    if (await addTo(keys.runUsage(runId))) return;
    // A run from before the usage item: on the run item, as then.
    if (await addTo(keys.run(runId))) return;
    // No usage map at all yet (or no run: a deleted one is not brought back): start it on the run item with this.
    await documents
      .send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.run(runId),
          UpdateExpression: 'SET #usage = :usage',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#usage)',
          ExpressionAttributeNames: { '#usage': 'usage' },
          ExpressionAttributeValues: { ':usage': usage },
        }),
      )
      .catch((second: unknown) => {
        if (!isConditionFailure(second)) throw second;
      });
  };
}
