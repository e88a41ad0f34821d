import { z } from 'zod';
import { budget } from '#shared/domain/budgets';
import { runLimits } from '#shared/domain/limits';
import { priority } from '#shared/domain/capacity';
import { runActions, runStatuses, stepActions } from '#shared/domain/states';
import { boundedJson } from '#shared/domain/json-limits';
import { text } from '#shared/domain/text';
import { stepIdPattern } from '#shared/domain/workflow';

/** Versions count up from 1; no workflow gets anywhere near this many. */
export const maxWorkflowVersion = 1_000_000;

export const runIdParam = z.string().regex(/^run_[0-9a-z]{26}$/, 'must be a run id (run_…)');
export const workflowIdParam = z.string().regex(/^wf_[0-9a-z]{26}$/, 'must be a workflow id (wf_…)');
/** A step id, or a map's child's (`<map id>[<index, 6 digits>]`, shared/domain/map-step.ts). */
export const stepIdParam = z.string().regex(new RegExp(`${stepIdPattern.source.slice(0, -1)}(?:\\[[0-9]{6}\\])?$`), 'must be a step id');
/** The run actions that take no body; `retry` has its own operation (it takes step inputs). */
export const runActionParam = z.enum(runActions.filter((action) => action !== 'retry') as ['start', 'pause', 'resume', 'cancel']);
export const stepActionParam = z.enum(stepActions);

export const idempotencyKeyHeader = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 letters, digits, "_", ".", ":" or "-"')
  .optional();

export const gitRef = z.strictObject({
  /** `owner/name` on GitHub, `group/subgroup/project` on GitLab. */
  repository: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/, 'must be owner/name (or group/…/project)').max(200),
  /** Given as it appears in CI deliveries (`main`, `feat/x`); a leading `refs/heads/` is dropped. */
  branch: text(1, 200)
    // Spaces spelled out rather than \s, whose meaning differs between regex engines (and so
    // between this check and the published pattern as other tools read it).
    // eslint-disable-next-line no-control-regex -- git refuses control characters in branch names, and so does Baton
    .regex(/^[^ ~^:?*[\\\x00-\x1f\x7f]+$/, 'must be a branch name (no spaces, ~ ^ : ? * [ \\ or control characters)')
    .transform((branch) => branch.replace(/^refs\/heads\/(?=.)/, '')),
});
export type GitRef = z.infer<typeof gitRef>;

/** A run's tags: at most 10, keys without `:` (a search names a tag as `key:value`). */
export const maxRunTags = 10;
const runTagKeyPattern = /^[A-Za-z0-9_./-]{1,64}$/;
export const runTags = z
  .record(z.string().regex(runTagKeyPattern, 'must be 1-64 letters, digits, "_", ".", "/" or "-"'), text(1, 256))
  .refine((tags) => Object.keys(tags).length <= maxRunTags, `at most ${maxRunTags} tags`)
  .meta({
    maxProperties: maxRunTags,
    propertyNames: { type: 'string', pattern: runTagKeyPattern.source },
    description: 'Labels to find the run by (`tag=key:value` in the runs listing)',
  });

export const createRunBody = z.strictObject({
  workflowId: workflowIdParam,
  version: z.number().int().min(1).max(maxWorkflowVersion).optional(),
  /** The run's input (at most 64 KB of JSON), given to every step. */
  input: boundedJson(64 * 1024).optional(),
  /**
   * The branch this run works on: CI deliveries for it reach the run (auto-QA on CI, complete
   * on merge; see the project's settings).
   */
  git: gitRef.optional(),
  tags: runTags.optional(),
  /** Start at once (default), or leave the run pending until `actions/start`. */
  start: z.boolean().default(true),
  /** The run's budget (README "Budgets"); without it the project's `budgets.perRun`, if any. */
  budget: budget.optional(),
  /** The run's limits (README "Limits and NO_PROGRESS"); each one left out comes from the project's `settings.limits`. */
  limits: runLimits.optional(),
  /** Which of its steps get a freed slot first when they wait for one (README "Fair capacity"); steps may override it. */
  priority: priority.optional(),
});

/** `limit` and `cursor` of a paged listing (the cursor is opaque: pass back the one returned). */
export const pageQuery = (maxLimit = 100, defaultLimit = 20) =>
  z.strictObject({
    limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
    cursor: z.string().max(2048).optional(),
  });

/** A run's steps, a page at a time: up to 1,000 per page, 1,000 by default (a run of at most 1,000 steps is one page, as before paging). */
export const maxStepsPerPage = 1000;
export const stepPageQuery = pageQuery(maxStepsPerPage, maxStepsPerPage);

const instant = z.iso.datetime({ offset: true });

export const listRunsQuery = z
  .strictObject({
    status: z.enum(runStatuses).optional(),
    workflowId: workflowIdParam.optional(),
    /** Runs created at or after this instant. */
    from: instant.optional(),
    /** Runs created at or before this instant. */
    to: instant.optional(),
    /** Runs with this tag: `key:value`. */
    tag: text(3, 321)
      .regex(/^[A-Za-z0-9_./-]{1,64}:./, 'must be key:value')
      .transform((tag) => ({ key: tag.slice(0, tag.indexOf(':')), value: tag.slice(tag.indexOf(':') + 1) }))
      .optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(2048).optional(),
  })
  .refine((query) => !(query.from && query.to && Date.parse(query.from) > Date.parse(query.to)), { message: 'must not be before from', path: ['to'] });

/** Event ids are bare ULIDs. */
export const eventIdParam = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an event id (a ULID)');

export const listEventsQuery = z
  .strictObject({
    order: z.enum(['asc', 'desc']).default('asc'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(2048).optional(),
    /** Start after this event id in the listing's order (following a run: the last event seen). */
    after: eventIdParam.optional(),
  })
  .refine((query) => !(query.cursor && query.after), { message: 'give either cursor or after, not both', path: ['after'] });

export const workflowQuery = z.strictObject({ version: z.coerce.number().int().min(1).max(maxWorkflowVersion).optional() });

export const importQuery = z.strictObject({
  name: text(1, 100).optional(),
  dateGating: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
  kind: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/).optional(),
});

export const retryBody = z
  .strictObject({
    /** A new input for some of the failed steps, by step id. */
    steps: z.record(z.string(), z.strictObject({ input: boundedJson(32 * 1024) })).optional(),
  })
  .default({});

export const stepActionBody = z
  .strictObject({
    /** approve: the step's output (default: who approved). */
    output: boundedJson(64 * 1024).optional(),
    /** reject: why; becomes the step's error (default: the comment). */
    reason: text(0, 1000).optional(),
    /** A person's note on the decision, kept on the step and in the event. */
    comment: text(0, 1000).optional(),
  })
  .default({});
