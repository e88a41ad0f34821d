import { z } from 'zod';
import { boundedJson } from '#shared/domain/json-limits';
import { maxWorkflowVersion, workflowIdParam } from './runs';

export const scheduleIdParam = z.string().regex(/^sch_[0-9a-z]{26}$/, 'must be a schedule id (sch_…)');
export const scheduleActionParam = z.enum(['pause', 'resume']);

/** EventBridge Scheduler's expressions: rate(), cron() with six fields, or one-time at(). */
export const scheduleExpression = z
  .string()
  .regex(
    /^(rate\(\d{1,4} (minute|minutes|hour|hours|day|days)\)|cron\(\S+ \S+ \S+ \S+ \S+ \S+\)|at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\))$/,
    'must be rate(<n> minutes|hours|days), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss)',
  );

export const createScheduleBody = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  workflowId: workflowIdParam,
  version: z.number().int().min(1).max(maxWorkflowVersion).optional(),
  input: boundedJson(64 * 1024).optional(),
  expression: scheduleExpression,
  /** IANA time zone the expression is read in. */
  timezone: z.string().min(1).max(64).default('UTC'),
});
export type CreateScheduleBody = z.infer<typeof createScheduleBody>;
