/**
 * Feedback on a step's work (issue 12 §3): who may give it and how a version's scores are summed.
 * `human`: a person, through the API with their token; `reviewer`: an automatic reviewer (a
 * quality gate's reviewer step, or a tool with its own token), recorded through the same store.
 */
export const feedbackSources = ['human', 'reviewer'] as const;
export type FeedbackSource = (typeof feedbackSources)[number];

/** Scores are whole numbers from 0 (useless) to 100 (perfect). */
export const feedbackScoreRange = { min: 0, max: 100 } as const;

/** The mean of a version's scores from its count and sum, to two decimals. */
export const averageScore = (count: number, sum: number): number => (count ? Math.round((sum / count) * 100) / 100 : 0);
