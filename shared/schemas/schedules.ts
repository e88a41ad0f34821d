import { z } from 'zod';
import { boundedJson } from '#shared/domain/json-limits';
import { text } from '#shared/domain/text';
import { maxWorkflowVersion, workflowIdParam } from './runs';

export const scheduleIdParam = z.string().regex(/^sch_[0-9a-z]{26}$/, 'must be a schedule id (sch_…)');
export const scheduleActionParam = z.enum(['pause', 'resume']);

/** EventBridge Scheduler's expressions: rate(), cron() with six fields, or one-time at(). */
export const scheduleExpression = z
  .string()
  .regex(
    // ASCII classes spelled out: \d and \S mean more in other regex engines than in JavaScript.
    /^(rate\([0-9]{1,4} (minute|minutes|hour|hours|day|days)\)|cron\([!-~]+ [!-~]+ [!-~]+ [!-~]+ [!-~]+ [!-~]+\)|at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\))$/,
    'must be rate(<n> minutes|hours|days), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss)',
  );

export const createScheduleBody = z.strictObject({
  name: text(1, 100).optional(),
  workflowId: workflowIdParam,
  version: z.number().int().min(1).max(maxWorkflowVersion).optional(),
  input: boundedJson(64 * 1024).optional(),
  expression: scheduleExpression,
  /** IANA time zone the expression is read in. */
  /** IANA time zone the expression is read in; EventBridge Scheduler has the last word on which exist (400 otherwise). */
  timezone: z
    .string()
    .max(64)
    .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'must be an IANA time zone such as UTC or Europe/Paris')
    .default('UTC'),
});
export type CreateScheduleBody = z.infer<typeof createScheduleBody>;
