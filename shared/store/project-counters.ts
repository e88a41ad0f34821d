import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emptyCounters, isEmptyCounters, type ProjectCounters } from '#shared/domain/project-counters';
import { keys } from './keys';

/** A project's operating counters (shared/domain/project-counters.ts): added to, read whole. */
export interface ProjectCounterStore {
  /** Adds `delta` to the project's counters (atomic, commutative: concurrent invocations add up without reading). */
  add(projectId: string, delta: ProjectCounters): Promise<void>;
  /** The project's counters (all zero before its first addition). */
  read(projectId: string): Promise<ProjectCounters>;
}

// Flat attributes, so one ADD creates what is missing (ADD into a nested map needs the map first).
const runAttribute = (status: string) => `run#${status}`;
const stepAttribute = (status: string) => `step#${status}`;
const amounts = ['inputTokens', 'outputTokens', 'usageUsd', 'awsCostUsd', 'lambdaComputeUsd'] as const;
// USD sums of many small prices: rounded to a millionth of a cent so float noise stays out of the item.
const rounded = (value: number) => Math.round(value * 1e12) / 1e12;

/** The counters an item holds. */
export function countersOfItem(item: Record<string, unknown> | undefined): ProjectCounters {
  const counters = emptyCounters();
  for (const [name, value] of Object.entries(item ?? {})) {
    if (typeof value !== 'number') continue;
    if (name.startsWith('run#')) counters.runs[name.slice(4)] = value;
    else if (name.startsWith('step#')) counters.steps[name.slice(5)] = value;
    else if ((amounts as readonly string[]).includes(name)) counters[name as (typeof amounts)[number]] = value;
  }
  return counters;
}

/**
 * The counters item `PROJECT#p / COUNTERS` (no index: one write unit while under 1 KB). Each
 * invocation that changed a project's runs adds its sums with one UpdateItem (`ADD`), so the
 * cost is one write per project per invocation, never one per step.
 */
export function createProjectCounterStore({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): ProjectCounterStore {
  return {
    async add(projectId, delta) {
      if (isEmptyCounters(delta)) return;
      const names: Record<string, string> = {};
      const values: Record<string, number> = {};
      const adds: string[] = [];
      const add = (attribute: string, value: number) => {
        if (value === 0) return;
        const index = adds.length;
        names[`#c${index}`] = attribute;
        values[`:c${index}`] = value;
        adds.push(`#c${index} :c${index}`);
      };
      for (const [status, count] of Object.entries(delta.runs)) add(runAttribute(status), count);
      for (const [status, count] of Object.entries(delta.steps)) add(stepAttribute(status), count);
      for (const amount of amounts) add(amount, amount.endsWith('Usd') ? rounded(delta[amount]) : delta[amount]);
      if (adds.length === 0) return;
      await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.projectCounters(projectId),
          UpdateExpression: `ADD ${adds.join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    },
    async read(projectId) {
      // Eventually consistent: a scrape a second late is still a scrape (half the read unit).
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.projectCounters(projectId) }));
      return countersOfItem(Item);
    },
  };
}
