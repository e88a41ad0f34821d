import { z } from 'zod';
import { runStatuses, stepStatuses } from '#shared/domain/states';

const tokens = z.object({ input: z.number().int(), output: z.number().int() });

const stepSide = z.object({
  status: z.enum(stepStatuses),
  generation: z.number().int(),
  attempt: z.number().int(),
  reused: z.boolean().meta({ description: 'Completed with the output of the run this one was forked from: it did not run here' }),
  durationMs: z.number().optional().meta({ description: 'From its last start to its finish (absent when it did not run here or has not finished)' }),
  tokens,
  costUsd: z.number().meta({ description: 'Model calls of every attempt and generation, plus what agents reported' }),
});

const runTotals = z.object({
  id: z.string(),
  status: z.enum(runStatuses),
  workflowId: z.string(),
  workflowVersion: z.number().int(),
  forkedFrom: z.object({ runId: z.string(), stepId: z.string() }).optional(),
  durationMs: z.number().optional().meta({ description: 'From start to finish (absent while it runs)' }),
  tokens,
  costUsd: z.number(),
  executedSteps: z.number().int(),
  reusedSteps: z.number().int(),
});

export const compareResponse = z
  .object({
    a: runTotals,
    b: runTotals,
    changedSteps: z.array(z.string()).meta({ description: 'Steps whose status or output differ' }),
    steps: z.array(
      z.object({
        stepId: z.string(),
        a: stepSide.optional().meta({ description: 'Absent: the first run has no such step' }),
        b: stepSide.optional(),
        output: z.object({
          equal: z.boolean(),
          changes: z.array(z.object({ path: z.string(), a: z.unknown().optional(), b: z.unknown().optional() })).meta({ description: 'Where the outputs differ (at most 20): `$` is the whole output' }),
          truncated: z.literal(true).optional(),
        }),
      }),
    ),
    difference: z.object({ durationMs: z.number().optional(), tokens, costUsd: z.number() }).meta({ description: 'b − a' }),
  })
  .meta({ id: 'RunComparison' });
