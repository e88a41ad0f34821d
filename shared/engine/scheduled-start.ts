import { requestHash } from '#shared/domain/canonical-json';
import { localFireTime } from '#shared/config/emulator-gaps';
import type { ScheduleRecord } from '#shared/store/schedules';
import type { WorkflowStore } from '#shared/store/workflows';
import type { EngineDeps } from './context';
import { createRun } from './create-run';

/** The schedule records a fire reads and, for a one-time schedule, forgets (shared/store/schedules.ts). */
export interface ScheduleRecords {
  read(projectId: string, scheduleId: string): Promise<ScheduleRecord | undefined>;
  forget(projectId: string, scheduleId: string): Promise<void>;
}

/** One fire of a schedule, as EventBridge Scheduler sends it (the target's input). */
export interface ScheduleFire {
  projectId: string;
  scheduleId: string;
  /** The fire time Scheduler substitutes; an emulator may leave its placeholder (see localFireTime). */
  scheduledTime: string;
}

export type ScheduledStart = { runId: string } | { skipped: 'paused' | 'deleted' | 'workflow not found' };

/**
 * Starts a run of the schedule's workflow for one fire, with `schedule:<id>:<fire time>` as its
 * idempotency key, so a repeated fire makes no second run. A paused or deleted schedule (or a
 * workflow deleted since) starts nothing. A one-time schedule is forgotten once it has fired.
 */
export async function startScheduledRun(deps: EngineDeps & { workflows: Pick<WorkflowStore, 'get'>; schedules: ScheduleRecords }, { projectId, scheduleId, scheduledTime }: ScheduleFire): Promise<ScheduledStart> {
  const schedule = await deps.schedules.read(projectId, scheduleId);
  if (!schedule || schedule.state !== 'ENABLED') return { skipped: schedule ? 'paused' : 'deleted' };
  const workflow = await deps.workflows.get(projectId, schedule.workflowId, schedule.version);
  if (!workflow) {
    deps.logger.error('scheduled workflow is gone', { projectId, scheduleId, workflowId: schedule.workflowId });
    return { skipped: 'workflow not found' };
  }
  const now = deps.clock();
  const fireTime = Number.isNaN(Date.parse(scheduledTime)) ? localFireTime(now) : new Date(scheduledTime).toISOString();
  const { run, created } = await createRun(deps, {
    projectId,
    workflow,
    ...(schedule.input !== undefined ? { input: schedule.input } : {}),
    idempotencyKey: `schedule:${scheduleId}:${fireTime}`,
    // A schedule never changes what it starts, so every fire of one time is the same request
    // (and an API call that borrows the key is not).
    requestHash: requestHash({ scheduleId, workflowId: schedule.workflowId, version: schedule.version, input: schedule.input }),
    actor: `schedule:${scheduleId}`,
    start: true,
  });
  deps.logger.info('scheduled run', { scheduleId, fireTime, runId: run.id, created });
  // A one-time schedule has done its work (Scheduler deletes its side after completion).
  if (schedule.expression.startsWith('at(')) await deps.schedules.forget(projectId, scheduleId);
  return { runId: run.id };
}
