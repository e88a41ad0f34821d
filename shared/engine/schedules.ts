import { CreateScheduleCommand, DeleteScheduleCommand, UpdateScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { newId } from '#shared/domain/ids';
import type { CreateScheduleBody } from '#shared/schemas/schedules';

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
}

/** A schedule's record: all a fire needs, so the firing side reads it without a Scheduler client. */
export async function readSchedule(documents: DynamoDBDocumentClient, tableName: string, projectId: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
  const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: key(projectId, scheduleId) }));
  return Item ? strip(Item) : undefined;
}

const key = (projectId: string, scheduleId: string) => ({ pk: `PROJECT#${projectId}`, sk: `SCHEDULE#${scheduleId}` });
const strip = ({ pk: _pk, sk: _sk, type: _type, ...record }: Record<string, unknown>) => record as unknown as ScheduleRecord;

/**
 * Timed starts of a workflow through EventBridge Scheduler. Each fire invokes the
 * scheduled-start function with the fire time, which becomes the run's idempotency key, so a
 * schedule that fires twice for the same time makes one run.
 */
export const createSchedules = ({ documents, tableName, scheduler, group, targetArn, roleArn }: ScheduleDeps) => ({
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
    await documents.send(new PutCommand({ TableName: tableName, Item: { ...key(projectId, record.id), type: 'schedule', ...record }, ConditionExpression: 'attribute_not_exists(pk)' }));
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
      await documents.send(new DeleteCommand({ TableName: tableName, Key: key(projectId, record.id) }));
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
    await documents.send(new DeleteCommand({ TableName: tableName, Key: key(projectId, scheduleId) }));
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
