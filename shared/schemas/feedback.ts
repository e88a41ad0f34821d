import { z } from 'zod';
import { feedbackScoreRange, feedbackSources } from '#shared/domain/feedback';
import { text } from '#shared/domain/text';

const timestamp = z.iso.datetime({ offset: true });

export const feedbackBody = z.strictObject({
  /** 0 (useless) to 100 (perfect). */
  score: z.number().int().min(feedbackScoreRange.min).max(feedbackScoreRange.max),
  comment: text(0, 2000).optional(),
  /** `human` (default): a person; `reviewer`: an automatic reviewer posting with its own token. */
  source: z.enum(feedbackSources).default('human'),
});

export const feedbackResponse = z
  .object({
    id: z.string(),
    runId: z.string(),
    stepId: z.string(),
    generation: z.number().int().meta({ description: "The step's execution the score is about (a re-run is a new one)" }),
    workflowId: z.string(),
    workflowVersion: z.number().int(),
    score: z.number().int(),
    comment: z.string().optional(),
    source: z.enum(feedbackSources),
    actor: z.string().meta({ description: "Who recorded it: the token's id (shown to admins and the token itself; `token` to other readers), or the engine for a reviewer step" }),
    actorName: z.string().optional().meta({ description: "The name of the token that recorded it" }),
    reviewerStepId: z.string().optional(),
    at: timestamp,
  })
  .meta({ id: 'Feedback' });

export const feedbackListResponse = z
  .object({
    items: z.array(feedbackResponse),
    count: z.number().int(),
    averageScore: z.number().optional().meta({ description: 'Mean score of the items (absent when there are none)' }),
  })
  .meta({ id: 'FeedbackList' });

export const feedbackAveragesResponse = z
  .object({
    workflowId: z.string(),
    items: z.array(z.object({ version: z.number().int(), count: z.number().int(), averageScore: z.number() })).meta({ description: 'One per version with feedback, oldest first' }),
  })
  .meta({ id: 'FeedbackAverages' });
