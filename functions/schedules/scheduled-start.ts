import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { requestHash } from '#shared/domain/canonical-json';
import { createEngine } from '#shared/engine/create-engine';
import { createRun } from '#shared/engine/run-actions';
import { forgetSchedule, readSchedule } from '#shared/engine/schedules';
import { localFireTime } from '#infra/emulator-gaps';

const logger = new Logger();
const engine = createEngine(logger);

const fire = z.object({ projectId: z.string().min(1), scheduleId: z.string().min(1), scheduledTime: z.string() });

/**
 * Invoked by EventBridge Scheduler on each fire: starts a run of the schedule's workflow, with
 * `schedule:<id>:<fire time>` as its idempotency key, so a repeated fire makes no second run.
 */
export const handler = middy<unknown, { runId?: string; skipped?: string }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const { projectId, scheduleId, scheduledTime } = fire.parse(event);
    const schedule = await readSchedule(engine.documents, engine.deps.tableName, projectId, scheduleId);
    if (!schedule || schedule.state !== 'ENABLED') return { skipped: schedule ? 'paused' : 'deleted' };
    const workflow = await engine.workflows.get(projectId, schedule.workflowId, schedule.version);
    if (!workflow) {
      logger.error('scheduled workflow is gone', { projectId, scheduleId, workflowId: schedule.workflowId });
      return { skipped: 'workflow not found' };
    }
    const fireTime = Number.isNaN(Date.parse(scheduledTime)) ? localFireTime(new Date()) : new Date(scheduledTime).toISOString();
    const { run, created } = await createRun(engine.deps, {
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
    logger.info('scheduled run', { scheduleId, fireTime, runId: run.id, created });
    // A one-time schedule has done its work (Scheduler deletes its side after completion).
    if (schedule.expression.startsWith('at(')) await forgetSchedule(engine.documents, engine.deps.tableName, projectId, scheduleId);
    return { runId: run.id };
  });
