import { z } from 'zod';

/** The step queue's message: "try to run attempt `attempt + 1` of this step". */
export const stepMessage = z.strictObject({
  runId: z.string().min(1),
  stepId: z.string().min(1),
  /** Attempts already started when the message was sent; the claim expects exactly this. */
  attempt: z.number().int().min(0),
});
export type StepMessage = z.infer<typeof stepMessage>;
