import { z } from 'zod';
import { text } from '#shared/domain/text';
import { roles } from '#shared/domain/tokens';

export const createProjectBody = z.strictObject({
  name: text(1, 100),
});
export type CreateProjectBody = z.infer<typeof createProjectBody>;

export const projectIdParam = z.string().regex(/^prj_[0-9a-z]{26}$/, 'must be a project id (prj_…)');

export const webhookSecretBody = z.strictObject({
  /** Your own secret (16-256 characters); Baton generates one when absent. */
  secret: text(16, 256).optional(),
});

/** What a project lets CI deliveries do to the runs mapped to a branch (see docs/ARCHITECTURE.md, "CI reactions"). */
export const projectSettings = z.strictObject({
  /** CI success on a run's branch approves its waiting approval gates; CI failure fails them with the CI's URL. */
  autoQaOnCi: z.boolean(),
  /** A merged PR/MR of a run's branch completes the run (steps not yet done are skipped). */
  completeRunOnMerge: z.boolean(),
});
export type ProjectSettings = z.infer<typeof projectSettings>;
export const defaultProjectSettings: ProjectSettings = { autoQaOnCi: false, completeRunOnMerge: false };

/** Any of the settings; an empty patch changes nothing (and answers the current settings). */
export const projectSettingsPatch = projectSettings.partial();

/** A token's request rate: a bucket of `burst` requests refilled at `perSecond`. */
export const rateLimit = z.strictObject({
  perSecond: z.number().int().min(1).max(1000),
  burst: z.number().int().min(1).max(10_000),
});

export const createTokenBody = z.strictObject({
  name: text(1, 100),
  role: z.enum(roles),
  /** Its own request rate; the installation's default when absent. */
  rateLimit: rateLimit.optional(),
});

export const tokenIdParam = z.string().regex(/^tok_[0-9a-z]{26}$/, 'must be a token id (tok_…)');
