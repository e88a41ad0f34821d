import { DeleteRuleCommand, DisableRuleCommand, EnableRuleCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '#shared/domain/errors';
import { newId } from '#shared/domain/ids';
import { triggerRuleName, type TriggerInput, type TriggerSource } from '#shared/domain/triggers';
import type { CreateTriggerBody } from '#shared/schemas/triggers';
import { jsonAttribute } from './json-attribute';

export interface TriggerRecord {
  id: string;
  projectId: string;
  name?: string;
  workflowId: string;
  version?: number;
  source: TriggerSource;
  input?: TriggerInput;
  /** DISABLED: paused, it starts nothing (its EventBridge rule, if any, is disabled too). */
  state: 'ENABLED' | 'DISABLED';
  /** The EventBridge rule of an `eventbridge` trigger, and the bus it is on. */
  rule?: { name: string; bus: string };
  createdAt: string;
}

/** Where `eventbridge` triggers' rules go and what they invoke. */
export interface TriggerRules {
  client: EventBridgeClient;
  /** The bus users put their events on (the stage's `triggerBus`). */
  bus: string;
  /** Every rule's name starts with it; the API's IAM grant is scoped to it. */
  rulePrefix: string;
  /** The trigger-start function the rules invoke. */
  targetArn: string;
}

export interface TriggerDeps {
  documents: DynamoDBDocumentClient;
  tableName: string;
  rules: TriggerRules;
  /** At most this many triggers per project: every webhook delivery reads them all. */
  maxPerProject: number;
}

/** Beyond the project's trigger quota. */
export class TriggerQuotaError extends ConflictError {
  override name = 'TriggerQuotaError';
  constructor(max: number) {
    super(`A project has at most ${max} triggers; delete one first`);
  }
}

const key = (projectId: string, triggerId: string) => ({ pk: `PROJECT#${projectId}`, sk: `TRIGGER#${triggerId}` });
const strip = ({ pk: _pk, sk: _sk, type: _type, sourceJson, inputJson, ...record }: Record<string, unknown>) =>
  ({ ...record, source: jsonAttribute.decode(sourceJson), ...(inputJson !== undefined ? { input: jsonAttribute.decode(inputJson) } : {}) }) as unknown as TriggerRecord;

/** A trigger's record: all a start needs (state, workflow, input mapping). */
export async function readTrigger(documents: DynamoDBDocumentClient, tableName: string, projectId: string, triggerId: string): Promise<TriggerRecord | undefined> {
  const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: key(projectId, triggerId), ConsistentRead: true }));
  return Item ? strip(Item) : undefined;
}

/** A project's triggers (at most its quota: one query page). */
export async function listTriggers(documents: DynamoDBDocumentClient, tableName: string, projectId: string): Promise<TriggerRecord[]> {
  const { Items } = await documents.send(
    new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': `PROJECT#${projectId}`, ':prefix': 'TRIGGER#' } }),
  );
  return (Items ?? []).map(strip);
}

/** The record and the project's `triggerCount` change together, the increment conditional on the quota. */
const countedWrite = (tableName: string, projectId: string, record: NonNullable<TransactWriteCommandInput['TransactItems']>[number], delta: 1 | -1, max: number) =>
  new TransactWriteCommand({
    TransactItems: [
      record,
      {
        Update: {
          TableName: tableName,
          Key: { pk: `PROJECT#${projectId}`, sk: 'META' },
          UpdateExpression: 'ADD triggerCount :delta',
          ...(delta > 0
            ? { ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(triggerCount) OR triggerCount < :max)', ExpressionAttributeValues: { ':delta': delta, ':max': max } }
            : { ExpressionAttributeValues: { ':delta': delta } }),
        },
      },
    ],
  });

/**
 * Triggers: records in the table, and for `eventbridge` triggers a rule on the trigger bus with
 * the trigger's pattern, targeting the trigger-start function with the trigger named in its input.
 * The record is written first (the quota), the rule second; a rule EventBridge refuses takes the
 * record with it, so nothing is half-written.
 */
export const createTriggers = ({ documents, tableName, rules, maxPerProject }: TriggerDeps) => {
  const forget = async (projectId: string, triggerId: string) => {
    try {
      await documents.send(countedWrite(tableName, projectId, { Delete: { TableName: tableName, Key: key(projectId, triggerId), ConditionExpression: 'attribute_exists(pk)' } }, -1, 0));
    } catch (error) {
      if ((error as Error).name !== 'TransactionCanceledException') throw error;
    }
  };

  const putRule = async (record: TriggerRecord, pattern: Record<string, unknown>, name: string) => {
    await rules.client.send(
      new PutRuleCommand({ Name: name, EventBusName: rules.bus, EventPattern: JSON.stringify(pattern), State: 'ENABLED', Description: `Baton trigger ${record.id} of project ${record.projectId}` }),
    );
    await rules.client.send(
      new PutTargetsCommand({
        Rule: name,
        EventBusName: rules.bus,
        Targets: [
          {
            Id: 'trigger-start',
            Arn: rules.targetArn,
            // The trigger travels with the event (the whole event: `aws.events.event` would leave
            // out its detail), so the function needs no lookup by rule name.
            InputTransformer: {
              InputPathsMap: {},
              InputTemplate: `{"projectId": "${record.projectId}", "triggerId": "${record.id}", "event": <aws.events.event.json>}`,
            },
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 24 * 3600 },
          },
        ],
      }),
    );
  };

  const deleteRule = async (rule: { name: string; bus: string }) => {
    // Targets first: EventBridge refuses to delete a rule that still has any.
    const ignoreMissing = (error: unknown) => {
      if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    };
    await rules.client.send(new RemoveTargetsCommand({ Rule: rule.name, EventBusName: rule.bus, Ids: ['trigger-start'] })).catch(ignoreMissing);
    await rules.client.send(new DeleteRuleCommand({ Name: rule.name, EventBusName: rule.bus })).catch(ignoreMissing);
  };

  return {
    async create(projectId: string, body: CreateTriggerBody): Promise<TriggerRecord> {
      const id = newId('trg');
      const record: TriggerRecord = {
        id,
        projectId,
        ...(body.name ? { name: body.name } : {}),
        workflowId: body.workflowId,
        ...(body.version ? { version: body.version } : {}),
        source: body.source,
        ...(body.input ? { input: body.input } : {}),
        state: 'ENABLED',
        ...(body.source.type === 'eventbridge' ? { rule: { name: triggerRuleName(rules.rulePrefix, id), bus: rules.bus } } : {}),
        createdAt: new Date().toISOString(),
      };
      const { source, input, ...attributes } = record;
      const item = { ...key(projectId, id), type: 'trigger', ...attributes, sourceJson: jsonAttribute.encode(source), ...(input ? { inputJson: jsonAttribute.encode(input) } : {}) };
      try {
        await documents.send(countedWrite(tableName, projectId, { Put: { TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } }, 1, maxPerProject));
      } catch (error) {
        if ((error as Error).name === 'TransactionCanceledException') throw new TriggerQuotaError(maxPerProject);
        throw error;
      }
      if (record.rule && source.type === 'eventbridge') {
        try {
          await putRule(record, source.pattern, record.rule.name);
        } catch (error) {
          await deleteRule(record.rule);
          await forget(projectId, id);
          // EventBridge has the last word on patterns: its refusal is the caller's 400.
          if (['InvalidEventPatternException', 'ValidationException'].includes((error as Error).name)) {
            throw new ValidationError(`body.source.pattern: EventBridge refused the pattern: ${(error as Error).message}`, 'body.source.pattern');
          }
          throw error;
        }
      }
      return record;
    },

    get: (projectId: string, triggerId: string) => readTrigger(documents, tableName, projectId, triggerId),
    list: (projectId: string) => listTriggers(documents, tableName, projectId),

    /** Deletes the rule first (no more events reach it), then the record. */
    async delete(record: TriggerRecord): Promise<void> {
      if (record.rule) await deleteRule(record.rule);
      await forget(record.projectId, record.id);
    },

    /** Pause (DISABLED) or resume (ENABLED): the record is what starts check; the rule follows so paused events cost nothing. */
    async setState(record: TriggerRecord, state: 'ENABLED' | 'DISABLED'): Promise<TriggerRecord> {
      await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(record.projectId, record.id),
          UpdateExpression: 'SET #state = :state',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':state': state },
        }),
      );
      if (record.rule) {
        const args = { Name: record.rule.name, EventBusName: record.rule.bus };
        await rules.client.send(state === 'ENABLED' ? new EnableRuleCommand(args) : new DisableRuleCommand(args));
      }
      return { ...record, state };
    },
  };
};

export type Triggers = ReturnType<typeof createTriggers>;
