import { CreateScheduleCommand, DeleteScheduleCommand, UpdateScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '#shared/domain/errors';
import { newId } from '#shared/domain/ids';
import type { CreateScheduleBody } from '#shared/schemas/schedules';
import { jsonAttribute, jsonField } from '#shared/store/json-attribute';

export interface ScheduleRecord {
  id: string;
  projectId: string;
  name?: string;
  workflowId: string;
  version?: number;
  input?: unknown;
  expression: string;
  timezone: string;
  state: 'ENABLED' | 'DISABLED';
  createdAt: string;
}

export interface ScheduleDeps {
  documents: DynamoDBDocumentClient;
  tableName: string;
  scheduler: SchedulerClient;
  /** The schedule group all of a stage's schedules live in. */
  group: string;
  /** The function that starts a run when a schedule fires, and the role Scheduler invokes it with. */
  targetArn: string;
  roleArn: string;
  /** At most this many schedules per project (a quota: each one fires a Lambda on its own). */
  maxPerProject: number;
}

/** Beyond the project's schedule quota. */
export class ScheduleQuotaError extends ConflictError {
  override name = 'ScheduleQuotaError';
  constructor(max: number) {
    super(`A project has at most ${max} schedules; delete one first`);
  }
}

/** A schedule's record: all a fire needs, so the firing side reads it without a Scheduler client. */
export async function readSchedule(documents: DynamoDBDocumentClient, tableName: string, projectId: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
  const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: key(projectId, scheduleId) }));
  return Item ? strip(Item) : undefined;
}

/**
 * Removes a schedule's record and gives its place in the quota back (conditional on the record
 * existing, so a repeat gives nothing back twice). Also used after a one-time schedule fired.
 */
export async function forgetSchedule(documents: DynamoDBDocumentClient, tableName: string, projectId: string, scheduleId: string): Promise<void> {
  try {
    await documents.send(countedWrite(tableName, projectId, { Delete: { TableName: tableName, Key: key(projectId, scheduleId), ConditionExpression: 'attribute_exists(pk)' } }, -1, 0));
  } catch (error) {
    if ((error as Error).name !== 'TransactionCanceledException') throw error;
  }
}

const key = (projectId: string, scheduleId: string) => ({ pk: `PROJECT#${projectId}`, sk: `SCHEDULE#${scheduleId}` });
const strip = ({ pk: _pk, sk: _sk, type: _type, inputJson, ...record }: Record<string, unknown>) =>
  ({ ...record, ...(inputJson !== undefined ? { input: jsonAttribute.decode(inputJson) } : {}) }) as unknown as ScheduleRecord;

/**
 * The record and the project's schedule count change together: a put (or delete) of the record
 * and an increment (or decrement) of `scheduleCount` on the project, in one transaction, the
 * increment conditional on the quota.
 */
const countedWrite = (tableName: string, projectId: string, record: NonNullable<TransactWriteCommandInput['TransactItems']>[number], delta: 1 | -1, max: number) =>
  new TransactWriteCommand({
    TransactItems: [
      record,
      {
        Update: {
          TableName: tableName,
          Key: { pk: `PROJECT#${projectId}`, sk: 'META' },
          UpdateExpression: 'ADD scheduleCount :delta',
          ...(delta > 0
            ? { ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(scheduleCount) OR scheduleCount < :max)', ExpressionAttributeValues: { ':delta': delta, ':max': max } }
            : { ExpressionAttributeValues: { ':delta': delta } }),
        },
      },
    ],
  });

/**
 * Timed starts of a workflow through EventBridge Scheduler. Each fire invokes the
 * scheduled-start function with the fire time, which becomes the run's idempotency key, so a
 * schedule that fires twice for the same time makes one run.
 */
export const createSchedules = ({ documents, tableName, scheduler, group, targetArn, roleArn, maxPerProject }: ScheduleDeps) => ({
  async create(projectId: string, body: CreateScheduleBody): Promise<ScheduleRecord> {
    const record: ScheduleRecord = {
      id: newId('sch'),
      projectId,
      ...(body.name ? { name: body.name } : {}),
      workflowId: body.workflowId,
      ...(body.version ? { version: body.version } : {}),
      ...(body.input !== undefined ? { input: body.input } : {}),
      expression: body.expression,
      timezone: body.timezone,
      state: 'ENABLED',
      createdAt: new Date().toISOString(),
    };
    const { input, ...attributes } = record;
    try {
      await documents.send(
        countedWrite(
          tableName,
          projectId,
          { Put: { TableName: tableName, Item: { ...key(projectId, record.id), type: 'schedule', ...attributes, ...jsonField('input', input) }, ConditionExpression: 'attribute_not_exists(pk)' } },
          1,
          maxPerProject,
        ),
      );
    } catch (error) {
      if ((error as Error).name === 'TransactionCanceledException') throw new ScheduleQuotaError(maxPerProject);
      throw error;
    }
    try {
      await scheduler.send(
        new CreateScheduleCommand({
          Name: record.id,
          GroupName: group,
          ScheduleExpression: record.expression,
          ScheduleExpressionTimezone: record.timezone,
          FlexibleTimeWindow: { Mode: 'OFF' },
          State: 'ENABLED',
          ActionAfterCompletion: record.expression.startsWith('at(') ? 'DELETE' : 'NONE',
          Target: {
            Arn: targetArn,
            RoleArn: roleArn,
            Input: JSON.stringify({ projectId, scheduleId: record.id, scheduledTime: '<aws.scheduler.scheduled-time>' }),
            RetryPolicy: { MaximumRetryAttempts: 3 },
          },
        }),
      );
    } catch (error) {
      // Nothing half-written: without its schedule the record goes too.
      await forgetSchedule(documents, tableName, projectId, record.id);
      // Scheduler has the last word on expressions and time zones: its refusal is the caller's 400.
      if ((error as Error).name === 'ValidationException') throw new ValidationError(`body: EventBridge Scheduler refused the schedule: ${(error as Error).message}`, 'body');
      throw error;
    }
    return record;
  },

  get: (projectId: string, scheduleId: string) => readSchedule(documents, tableName, projectId, scheduleId),

  async list(projectId: string): Promise<ScheduleRecord[]> {
    const { Items } = await documents.send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': `PROJECT#${projectId}`, ':prefix': 'SCHEDULE#' } }),
    );
    return (Items ?? []).map(strip);
  },

  /** Deletes the schedule first (no more fires), then its record. */
  async delete(projectId: string, scheduleId: string): Promise<void> {
    try {
      await scheduler.send(new DeleteScheduleCommand({ Name: scheduleId, GroupName: group }));
    } catch (error) {
      if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    }
    await forgetSchedule(documents, tableName, projectId, scheduleId);
  },

  async setState(record: ScheduleRecord, state: 'ENABLED' | 'DISABLED'): Promise<ScheduleRecord> {
    await scheduler.send(
      new UpdateScheduleCommand({
        Name: record.id,
        GroupName: group,
        ScheduleExpression: record.expression,
        ScheduleExpressionTimezone: record.timezone,
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: state,
        Target: {
          Arn: targetArn,
          RoleArn: roleArn,
          Input: JSON.stringify({ projectId: record.projectId, scheduleId: record.id, scheduledTime: '<aws.scheduler.scheduled-time>' }),
          RetryPolicy: { MaximumRetryAttempts: 3 },
        },
      }),
    );
    await documents.send(
      new UpdateCommand({ TableName: tableName, Key: key(record.projectId, record.id), UpdateExpression: 'SET #state = :state', ExpressionAttributeNames: { '#state': 'state' }, ExpressionAttributeValues: { ':state': state } }),
    );
    return { ...record, state };
  },
});

export type Schedules = ReturnType<typeof createSchedules>;
