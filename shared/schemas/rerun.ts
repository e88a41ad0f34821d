import { z } from 'zod';
import { boundedJson } from '#shared/domain/json-limits';
import { text } from '#shared/domain/text';
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
