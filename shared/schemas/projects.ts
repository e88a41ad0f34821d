import { z } from 'zod';
import { parseCidr } from '#shared/domain/addresses';
import { projectBudgets } from '#shared/domain/budgets';
import { runLimits } from '#shared/domain/limits';
import { qaPolicy } from '#shared/domain/quality-gates';
import { projectConcurrency } from '#shared/domain/capacity';
import { secretName } from '#shared/domain/secrets';
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

/** A model's price in USD per million tokens (shared/domain/llm-prices.ts has the list prices). */
export const llmPrice = z.strictObject({
  inputPerMillion: z.number().min(0).max(1_000_000),
  outputPerMillion: z.number().min(0).max(1_000_000),
});

const maxPricedModels = 200;

/** Model ids as Bedrock and OpenAI-compatible servers spell them (ids, inference profiles, ARNs). */
const modelIdPattern = /^[A-Za-z0-9][!-~]{0,255}$/;
const modelId = z.string().regex(modelIdPattern, 'must be a model id: 1-256 printable ASCII characters without spaces');

/** An IPv4 or IPv6 CIDR, by zod's patterns: the contract states the same pattern that validates. */
const cidrPattern = new RegExp(`(?:${z.regexes.cidrv4.source})|(?:${z.regexes.cidrv6.source})`);
const cidr = z
  .string()
  .max(64)
  .regex(cidrPattern, 'must be a CIDR such as 10.0.0.0/8 or fd00::/8')
  .refine((value) => parseCidr(value) !== undefined, 'must be a CIDR such as 10.0.0.0/8 or fd00::/8')
  .meta({ example: '10.0.0.0/8' });

/** The project's settings (see docs/ARCHITECTURE.md: "CI reactions", "LLM usage", "Where http agents may connect"). */
export const projectSettings = z.strictObject({
  /** CI success on a run's branch approves its waiting approval gates; CI failure fails them with the CI's URL. */
  autoQaOnCi: z.boolean(),
  /** A merged PR/MR of a run's branch completes the run (steps not yet done are skipped). */
  completeRunOnMerge: z.boolean(),
  /** Prices per model id that replace the list prices in usage records (a patch replaces the whole table). */
  llmPrices: z
    .record(modelId, llmPrice)
    .refine((prices) => Object.keys(prices).length <= maxPricedModels, `at most ${maxPricedModels} models`)
    // The contract states the key rule too (zod-to-openapi does not carry a record's key schema).
    .meta({ maxProperties: maxPricedModels, propertyNames: { type: 'string', pattern: modelIdPattern.source } }),
  /**
   * Private ranges `http` agents may be called in (the project's own VPC). Loopback and
   * link-local addresses stay refused unless a CIDR inside those ranges is listed.
   */
  allowPrivateAgents: z.array(cidr).max(50).meta({
    description: 'CIDRs of private ranges http agents may be called in (e.g. 10.0.0.0/8); loopback and link-local (169.254.169.254) only by a CIDR inside them',
  }),
  /**
   * Step-level events (`step.*`) on the EventBridge bus too, for projects whose rules subscribe
   * to them. Off by default: run- and project-level events always go to the bus, and the event
   * history API keeps every event either way. Taken by each run when it is created.
   */
  publishStepEvents: z.boolean().meta({
    description: 'Publish step.* events on the EventBridge bus too (run-level events always are; the event history keeps every event). Applies to runs created after the change.',
  }),
  /** Budgets (README "Budgets"): `perRun` is copied to each new run that brings none; `monthly` holds across all runs of a calendar month (UTC). */
  budgets: projectBudgets,
  /** Limits (README "Limits and NO_PROGRESS"): each new run takes these, field by field, unless it gives its own. */
  limits: runLimits.meta({ description: 'Default limits of every new run (each field unless the run gives its own): maxExecutedSteps, maxDurationSeconds, noProgressAfter' }),
  /**
   * The default quality gate (README "Quality gates"): applied after execution to every llm, http
   * and lambda step that has no `qa` of its own (the seeds' "auto QA after execution"). A patch
   * with `null` turns it off.
   */
  qa: qaPolicy.optional().meta({ description: 'Default quality gate for every llm, http and lambda step without its own qa; null in a patch turns it off' }),
  /** At most `limit` steps of the project run at once (README "Fair capacity"); absent: no limit. */
  concurrency: projectConcurrency.optional(),
});
export type ProjectSettings = z.infer<typeof projectSettings>;
export const defaultProjectSettings: ProjectSettings = { autoQaOnCi: false, completeRunOnMerge: false, llmPrices: {}, allowPrivateAgents: [], publishStepEvents: false, budgets: {}, limits: {} };

/** Any of the settings; an empty patch changes nothing (and answers the current settings). */
export const projectSettingsPatch = projectSettings.partial().extend({ qa: qaPolicy.nullable().optional() });
export type ProjectSettingsPatch = z.infer<typeof projectSettingsPatch>;

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

/** A project secret's value: stored encrypted, never shown again. */
export const putSecretBody = z.strictObject({
  value: text(1, 8192).meta({ description: 'The secret value (1-8192 characters); write-only: no response ever contains it.' }),
});

export const secretNameParam = secretName;
