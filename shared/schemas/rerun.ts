import { z } from 'zod';
import { budget } from '#shared/domain/budgets';
import { runLimits } from '#shared/domain/limits';
import { boundedJson } from '#shared/domain/json-limits';
import { text } from '#shared/domain/text';
import { stepIdPattern } from '#shared/domain/workflow';
import { runResponse, stepSummaryResponse } from './responses';

export const rerunBody = z
  .strictObject({
    /** A new input for the step (otherwise its current one). */
    input: boundedJson(32 * 1024).optional(),
    /** What to do differently: added to the input where the step's kind reads it (an llm prompt, an agent's body or payload). */
    guidance: text(1, 2000).optional(),
  })
  .default({});

export const rerunResponse = z
  .object({
    run: runResponse,
    step: stepSummaryResponse,
    downstream: z.array(z.string()).meta({ description: 'The steps that run again after it, in workflow order' }),
  })
  .meta({ id: 'Rerun' });

export const forkBody = z.strictObject({
  /** The step the fork runs again from: it and everything downstream of it run; the rest is reused. */
  fromStep: z.string().regex(stepIdPattern, 'must be a step id'),
  /** The fork's run input (otherwise the source run's). */
  input: boundedJson(64 * 1024).optional(),
  /** New inputs for steps that run in the fork, by step id. */
  stepInputs: z.record(z.string(), boundedJson(32 * 1024)).optional(),
  /** The fork's budget (otherwise the source run's). */
  budget: budget.optional(),
  /** The fork's limits (otherwise the source run's). */
  limits: runLimits.optional(),
});

export const forkResponse = runResponse
  .extend({
    reused: z.array(z.string()).meta({ description: "Steps written completed with the source run's outputs: they do not run in the fork" }),
  })
  .meta({ id: 'Fork' });
