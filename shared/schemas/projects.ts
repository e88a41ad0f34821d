import { z } from 'zod';

export const createProjectBody = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});
export type CreateProjectBody = z.infer<typeof createProjectBody>;

export const projectIdParam = z.string().regex(/^prj_[0-9a-z]{26}$/, 'must be a project id (prj_…)');
