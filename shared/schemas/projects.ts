import { z } from 'zod';

export const createProjectBody = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});
export type CreateProjectBody = z.infer<typeof createProjectBody>;

export const projectIdParam = z.string().regex(/^prj_[0-9a-z]{26}$/, 'must be a project id (prj_…)');

export const webhookSecretBody = z.strictObject({
  /** Your own secret (16-256 characters); Baton generates one when absent. */
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
});
