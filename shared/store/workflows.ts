import { GetCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '#shared/domain/errors';
import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId, newId } from '#shared/domain/ids';
import type { StepSpec, WorkflowBody } from '#shared/domain/workflow';
import { eventItem } from './event-outbox';
import { keys, workflowVersionPrefix } from './keys';
import { getInOrder } from './query';
import { decodeCursor, encodeCursor, type Page } from './cursor';
import { packedVersion, stepsOfVersion } from './workflow-parts';

export interface Workflow {
  id: string;
  projectId: string;
  name: string;
  description?: string;
  version: number;
  steps: StepSpec[];
  createdAt: string;
}

/** Steps are stored gzipped, in parts when large (shared/store/workflow-parts.ts). */
export { packSteps, unpackSteps } from './workflow-parts';

const toWorkflow = (item: Record<string, unknown>, steps: StepSpec[]): Workflow => ({
  id: item.workflowId as string,
  projectId: item.projectId as string,
  name: item.name as string,
  ...(item.description ? { description: item.description as string } : {}),
  version: item.version as number,
  steps,
  createdAt: item.createdAt as string,
});

export const createWorkflowStore = ({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }) => ({
  /**
   * Stores a workflow definition. A new name creates workflow version 1; an existing name adds
   * the next version. The name's version counter moves with a conditional write, so two
   * concurrent saves cannot both claim the same version.
   */
  async save(input: { projectId: string; body: WorkflowBody; actor: string; now?: Date }) {
    const { projectId, body, actor } = input;
    const now = (input.now ?? new Date()).toISOString();
    const nameKey = keys.workflowName(projectId, body.name);
    const { Item: current } = await documents.send(new GetCommand({ TableName: tableName, Key: nameKey, ConsistentRead: true }));
    const workflowId = (current?.workflowId as string | undefined) ?? newId('wf');
    const previous = (current?.latestVersion as number | undefined) ?? 0;
    const version = previous + 1;
    const event: LifecycleEvent = {
      id: newEventId(),
      type: 'workflow.saved',
      projectId,
      at: now,
      actor,
      detail: { workflowId, name: body.name, version, steps: body.steps.length },
    };
    const eventKey = keys.projectEvent(projectId, event.id);
    const packed = packedVersion(projectId, workflowId, version, body.steps);
    try {
      await documents.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tableName,
                Key: nameKey,
                // The latest version's summary rides on the name item: the listing reads nothing else.
                UpdateExpression:
                  'SET latestVersion = :version, workflowId = :workflowId, #type = :type, stepCount = :stepCount, updatedAt = :now' +
                  (body.description ? ', description = :description' : ' REMOVE description'),
                ConditionExpression: previous === 0 ? 'attribute_not_exists(pk)' : 'latestVersion = :previous',
                ExpressionAttributeNames: { '#type': 'type' },
                ExpressionAttributeValues: {
                  ':version': version,
                  ':workflowId': workflowId,
                  ':type': 'workflowName',
                  ':stepCount': body.steps.length,
                  ':now': now,
                  ...(body.description ? { ':description': body.description } : {}),
                  ...(previous === 0 ? {} : { ':previous': previous }),
                },
              },
            },
            {
              Put: {
                TableName: tableName,
                Item: {
                  ...keys.workflowVersion(projectId, workflowId, version),
                  type: 'workflow',
                  workflowId,
                  projectId,
                  name: body.name,
                  ...(body.description ? { description: body.description } : {}),
                  version,
                  stepCount: body.steps.length,
                  ...packed.attributes,
                  createdAt: now,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...packed.parts.map((Item) => ({ Put: { TableName: tableName, Item } })),
            { Put: { TableName: tableName, Item: eventItem(eventKey, event) } },
          ],
        }),
      );
    } catch (error) {
      if ((error as Error).name === 'TransactionCanceledException') {
        throw new ConflictError(`Workflow "${body.name}" was changed at the same time; try again`, 'body.name');
      }
      throw error;
    }
    return { workflow: { id: workflowId, projectId, name: body.name, version, steps: body.steps, createdAt: now }, events: [{ key: eventKey, event }] };
  },

  /** One version of a workflow, or its latest when no version is given. */
  async get(projectId: string, workflowId: string, version?: number): Promise<Workflow | undefined> {
    if (version !== undefined) {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.workflowVersion(projectId, workflowId, version) }));
      return Item ? toWorkflow(Item, await stepsOfVersion(documents, tableName, Item)) : undefined;
    }
    const { Items } = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `PROJECT#${projectId}`, ':prefix': workflowVersionPrefix(workflowId) },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    return Items?.[0] ? toWorkflow(Items[0], await stepsOfVersion(documents, tableName, Items[0])) : undefined;
  },

  /** A project's workflows by name, each with its latest version and that version's step count. */
  async list(projectId: string, options: { limit: number; cursor?: string }): Promise<Page<WorkflowSummary>> {
    const pk = `PROJECT#${projectId}`;
    const response = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': 'WFNAME#' },
        Limit: options.limit,
        ExclusiveStartKey: decodeCursor(options.cursor, (key) => Object.keys(key).length === 2 && key.pk === pk && typeof key.sk === 'string' && key.sk.startsWith('WFNAME#')),
      }),
    );
    const names = response.Items ?? [];
    // Names saved before the summary rode on them: their latest version item has it.
    const older = names.filter((item) => item.stepCount === undefined);
    const versions = await getInOrder(documents, tableName, older.map((item) => keys.workflowVersion(projectId, item.workflowId as string, item.latestVersion as number)));
    const versionOf = new Map(versions.map((item) => [item.workflowId as string, item]));
    const items = names.map((item): WorkflowSummary => {
      const summary = item.stepCount === undefined ? versionOf.get(item.workflowId as string) : item;
      const description = summary?.description as string | undefined;
      return {
        id: item.workflowId as string,
        name: (item.sk as string).slice('WFNAME#'.length),
        ...(description ? { description } : {}),
        version: item.latestVersion as number,
        steps: (summary?.stepCount as number | undefined) ?? 0,
        updatedAt: ((summary?.updatedAt ?? summary?.createdAt) as string | undefined) ?? '1970-01-01T00:00:00.000Z',
      };
    });
    return { items, cursor: encodeCursor(response.LastEvaluatedKey) };
  },
});

/** A workflow as listed: its latest version's summary. */
export interface WorkflowSummary {
  id: string;
  name: string;
  description?: string;
  version: number;
  steps: number;
  updatedAt: string;
}

export type WorkflowStore = ReturnType<typeof createWorkflowStore>;
