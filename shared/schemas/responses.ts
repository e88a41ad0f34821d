import { z } from 'zod';
import { budgetModes } from '#shared/domain/budgets';
import { qaPolicy } from '#shared/domain/quality-gates';
import { priorities } from '#shared/domain/capacity';
import { roles } from '#shared/domain/tokens';
import { runStatuses, stepStatuses } from '#shared/domain/states';
import { webhookProviderNames } from '#shared/webhook-providers/registry';
import { retryPolicy, stepSpec } from '#shared/domain/workflow';
import { projectSettings, rateLimit } from './projects';
import { gitRef } from './runs';

/**
 * What the API answers, one schema per response. The handlers' responses are checked against
 * them on the local stage (a mismatch is a 500 there, so tests and schemathesis catch drift),
 * and the OpenAPI document is generated from them. Objects are open (extra fields allowed) so
 * that adding a field is not a breaking change for clients.
 */
const timestamp = z.iso.datetime({ offset: true });

export const errorResponse = z.object({
  error: z.object({
    code: z.string().meta({ example: 'validation_error' }),
    message: z.string(),
    field: z.string().optional().meta({ description: 'Where the problem is: body.…, query.…, path.… or header.…' }),
    requestId: z.string(),
  }),
}).meta({ id: 'Error' });

export const healthResponse = z.object({ status: z.literal('ok'), stage: z.string() }).meta({ id: 'Health' });

export const whoamiResponse = z
  .union([
    z.object({ kind: z.literal('installation'), role: z.literal('admin') }),
    z.object({ kind: z.literal('project'), projectId: z.string(), role: z.enum(roles), tokenId: z.string() }),
  ])
  .meta({ id: 'WhoAmI' });

export const projectSettingsResponse = projectSettings.meta({ id: 'ProjectSettings' });

export const projectResponse = z.object({ id: z.string(), name: z.string(), createdAt: timestamp, settings: projectSettings }).meta({ id: 'Project' });

export const projectPageResponse = z.object({ items: z.array(projectResponse), cursor: z.string().optional() }).meta({ id: 'ProjectPage' });

export const tokenResponse = z
  .object({ id: z.string(), name: z.string(), role: z.enum(roles), createdAt: timestamp, rateLimit: rateLimit.optional(), revokedAt: timestamp.optional() })
  .meta({ id: 'Token' });
export const createdTokenResponse = tokenResponse.extend({ token: z.string().meta({ description: 'The token itself: shown this once, stored only as a hash.' }) }).meta({ id: 'CreatedToken' });
export const tokenListResponse = z.object({ items: z.array(tokenResponse) }).meta({ id: 'TokenList' });

export const createdProjectResponse = projectResponse
  .extend({ adminToken: z.object({ id: z.string(), role: z.literal('admin'), token: z.string() }) })
  .meta({ id: 'CreatedProject' });

export const webhookSecretResponse = z
  .object({ provider: z.enum(webhookProviderNames), secret: z.string(), previousStillValid: z.boolean() })
  .meta({ id: 'WebhookSecret' });

export const secretResponse = z
  .object({ name: z.string(), createdAt: timestamp, updatedAt: timestamp })
  .meta({ id: 'Secret', description: 'A project secret as the API shows it: never its value.' });
export const secretListResponse = z.object({ items: z.array(secretResponse) }).meta({ id: 'SecretList' });

export const savedWorkflowResponse = z.object({ id: z.string(), name: z.string(), version: z.number().int(), steps: z.number().int() }).meta({ id: 'SavedWorkflow' });

export const workflowResponse = z
  .object({ id: z.string(), projectId: z.string(), name: z.string(), description: z.string().optional(), version: z.number().int(), steps: z.array(stepSpec), createdAt: timestamp })
  .meta({ id: 'Workflow' });

export const workflowSummaryResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    version: z.number().int().meta({ description: 'The latest version' }),
    steps: z.number().int().meta({ description: "The latest version's number of steps" }),
    updatedAt: timestamp.meta({ description: 'When the latest version was saved' }),
  })
  .meta({ id: 'WorkflowSummary' });

export const workflowPageResponse = z.object({ items: z.array(workflowSummaryResponse), cursor: z.string().optional() }).meta({ id: 'WorkflowPage' });

const stepError = z.object({
  message: z.string(),
  retryable: z.boolean(),
  code: z.string().optional(),
  status: z.number().int().optional(),
  url: z.string().optional(),
  attempt: z.number().int(),
  at: timestamp,
});

const usage = z.looseObject({}).meta({ description: 'AWS calls, DynamoDB units, SQS requests and EventBridge events spent' });

/** One model call (an `llm` step's, or one an agent reported). */
export const llmUsageRecordResponse = z
  .object({
    provider: z.string(),
    model: z.string(),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    totalTokens: z.number().int(),
    latencyMs: z.number(),
    costUsd: z.number(),
    startedAt: timestamp,
    endedAt: timestamp,
  })
  .meta({ id: 'LlmUsageRecord' });

/** A model's calls in a run, summed. */
const llmModelUsage = z
  .object({
    provider: z.string(),
    calls: z.number().int(),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    totalTokens: z.number().int(),
    costUsd: z.number(),
    latencyMs: z.number().meta({ description: 'Total time spent waiting for this model' }),
  })
  .meta({ id: 'LlmModelUsage' });

/** Tokens and USD (spent, reserved). */
const budgetAmount = z.object({ tokens: z.number(), usd: z.number() }).meta({ id: 'BudgetAmount' });
const budgetLimit = {
  tokens: z.number().int().optional(),
  usd: z.number().optional(),
  mode: z.enum(budgetModes),
};
export const budgetResponse = z.object(budgetLimit).meta({ id: 'BudgetLimit' });

/** Spend against each budget of a run (README "Budgets"): spent from the usage records, reserved by steps running now. */
export const runBudgetsResponse = z
  .object({
    run: z.object({ ...budgetLimit, spent: budgetAmount, reserved: budgetAmount }).optional().meta({ description: "The run's budget" }),
    steps: z.record(z.string(), z.object({ ...budgetLimit, spent: budgetAmount })).optional().meta({ description: 'Steps with their own budget, by id (spent over all their attempts)' }),
    projectMonthly: z
      .object({ ...budgetLimit, month: z.string(), spent: budgetAmount, reserved: budgetAmount })
      .optional()
      .meta({ description: "The project's budget for the current calendar month (UTC), across all its runs" }),
  })
  .meta({ id: 'RunBudgets' });

const limitFields = {
  maxExecutedSteps: z.number().int().optional(),
  maxDurationSeconds: z.number().int().optional(),
  noProgressAfter: z.number().int().optional(),
};
export const runLimitsResponse = z.object(limitFields).meta({ id: 'RunLimits' });

/** The run's limits and how far it got (README "Limits and NO_PROGRESS"). */
export const runLimitsDetailResponse = z
  .object({
    ...limitFields,
    noProgressAfter: z.number().int().meta({ description: 'A step producing the same output this many times in a row stops with NO_PROGRESS (the run\'s, else the default 3)' }),
    executedSteps: z.number().int().meta({ description: 'Step executions started so far (every attempt, retries, re-runs and takeovers included): what maxExecutedSteps counts' }),
    deadline: timestamp.optional().meta({ description: 'When the run blocks with MAX_DURATION (its start + maxDurationSeconds)' }),
  })
  .meta({ id: 'RunLimitsDetail' });

export const runResponse = z
  .object({
    id: z.string(),
    projectId: z.string(),
    workflowId: z.string(),
    workflowName: z.string(),
    workflowVersion: z.number().int(),
    status: z.enum(runStatuses),
    reason: z.string().optional(),
    input: z.unknown().optional(),
    git: gitRef.optional(),
    tags: z.record(z.string(), z.string()).optional(),
    createdAt: timestamp,
    startedAt: timestamp.optional(),
    finishedAt: timestamp.optional(),
    failedSteps: z.array(z.string()).optional().meta({ description: 'Steps that failed for good and block the run (retry runs them again)' }),
    failedOptionalSteps: z.array(z.string()).optional().meta({ description: 'Steps with onFailure "continue" that failed for good: their dependents ran anyway' }),
    degraded: z.literal(true).optional().meta({ description: 'The run completed although some optional steps failed (failedOptionalSteps)' }),
    heldSteps: z.array(z.string()).optional().meta({ description: 'Steps waiting for resume: released while the run was paused, or held by a strict budget (BUDGET_EXCEEDED) or a limit (MAX_EXECUTED_STEPS, MAX_DURATION)' }),
    budget: budgetResponse.optional().meta({ description: "The run's budget (its own, or the project's perRun when created)" }),
    limits: runLimitsResponse.optional().meta({ description: "The run's limits (its own, each else the project's settings.limits when created)" }),
    priority: z.enum(priorities).optional().meta({ description: 'Which of its steps get a freed slot first (absent: normal)' }),
    forkedFrom: z.object({ runId: z.string(), stepId: z.string() }).optional().meta({ description: 'A fork: the run it was forked from and the step it was forked at' }),
    parent: z.object({ runId: z.string(), stepId: z.string() }).optional().meta({ description: 'A sub-workflow: the run and `workflow` step that started this run' }),
  })
  .meta({ id: 'Run' });

export const runDetailResponse = runResponse
  .extend({
    steps: z.object({
      total: z.number().int(),
      byStatus: z.record(z.enum(stepStatuses), z.number().int()),
      children: z
        .object({ total: z.number().int(), done: z.number().int(), succeeded: z.number().int(), failed: z.number().int() })
        .optional()
        .meta({ description: "The children of the run's map steps: how many there are, how many finished, succeeded and failed (issue 13 §1)" }),
    }),
    usage: z.looseObject({
      cost: z.looseObject({}),
      lambdaCompute: z
        .object({
          handlerMs: z.number().meta({ description: "Wall time of Baton's own function invocations that worked for this run (shared equally by the runs of one invocation)" }),
          gbSeconds: z.number().meta({ description: 'handlerMs × the functions\' memory, in GB-seconds' }),
          usd: z.number().meta({ description: 'gbSeconds at the arm64 list price; not included in cost.totalUsd' }),
          usdPerGbSecond: z.number(),
        })
        .optional()
        .meta({ description: "Baton's own Lambda compute, reported beside the request cost (cost), never in it" }),
      agentUsage: z.looseObject({}),
      llm: z.record(z.string(), llmModelUsage).meta({ description: 'Model calls of every step (failed attempts included), summed by model id' }),
    }),
    budgets: runBudgetsResponse,
    limits: runLimitsDetailResponse.optional(),
  })
  .meta({ id: 'RunDetail' });

export const runPageResponse = z.object({ items: z.array(runResponse), cursor: z.string().optional() }).meta({ id: 'RunPage' });

export const inboxItemResponse = z
  .object({
    runId: z.string(),
    stepId: z.string(),
    kind: z.string(),
    waitingFor: z.string().meta({ description: 'What the step waits for (e.g. "awaiting approval: …", a webhook)' }),
    since: timestamp.meta({ description: 'When it started waiting' }),
    deadline: timestamp.optional().meta({ description: 'When it fails with DEADLINE_EXCEEDED unless decided (its timeoutSeconds)' }),
    workflowId: z.string(),
    workflowName: z.string(),
    runStatus: z.enum(runStatuses),
    prompt: z.string().optional().meta({ description: "An approval step's prompt" }),
  })
  .meta({ id: 'InboxItem' });

export const inboxPageResponse = z.object({ items: z.array(inboxItemResponse), cursor: z.string().optional() }).meta({ id: 'InboxPage' });

/** A step's quality gate (README "Quality gates"). */
export const stepGateResponse = z
  .object({
    state: z.enum(['reviewing', 'waiting', 'paused', 'retrying']).meta({ description: "reviewing: the automatic reviewer runs; waiting: a human reviewer's step waits for a person's feedback or approval; paused: scored below the threshold (or no score), waits for a person; retrying: running again with the reviewer's comment" }),
    from: z.enum(['step', 'project']).meta({ description: "The step's own qa, or the project's default" }),
    reviewer: z.string().meta({ description: 'human, or the reviewer\'s kind (llm, http, lambda)' }),
    threshold: z.number().int(),
    onBelow: z.enum(['pause', 'retry', 'fail']),
    retries: z.number().int().meta({ description: 'QA retries used (onBelow retry)' }),
    maxRetries: z.number().int(),
    score: z.number().int().optional().meta({ description: 'The latest score' }),
    comment: z.string().optional().meta({ description: "The latest reviewer's comment" }),
    error: z.string().optional().meta({ description: 'Why the latest review gave no score' }),
  })
  .meta({ id: 'StepGate' });

export const stepSummaryResponse = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.enum(stepStatuses),
    attempt: z.number().int(),
    generation: z.number().int().meta({ description: 'Execution of the step (1 at first; a retry with a new input raises it). Agents see runId:stepId:<generation> as the idempotency key of every attempt of it.' }),
    dependsOn: z.array(z.string()),
    notBefore: timestamp.optional(),
    queuedAt: timestamp.optional(),
    startedAt: timestamp.optional(),
    finishedAt: timestamp.optional(),
    error: stepError.optional(),
    reusedFrom: z.object({ runId: z.string(), generation: z.number().int() }).optional().meta({ description: "A fork's step completed with the output of the run it was forked from: it did not run here" }),
    plannedBy: z.string().optional().meta({ description: 'The planner step whose output added this step to the run (README "Planner steps")' }),
    iteration: z.number().int().optional().meta({ description: 'A loop step: the iteration it is in (README "Loops"; each ended iteration\'s output is in its step.iterated event)' }),
    gate: stepGateResponse.optional(),
    throttle: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.enum(['project', 'concurrency']), key: z.string(), limit: z.number().int(), since: timestamp }),
        z.object({ kind: z.literal('rate'), key: z.string(), perSecond: z.number(), since: timestamp, until: timestamp.meta({ description: 'Its turn: when it starts (or just after, when the start before it came late)' }) }),
      ])
      .optional()
      .meta({ description: 'While `throttled`: what it waits for (`key`: `project`, or its concurrency or rate key as resolved from the run input) and since when (README "Fair capacity")' }),
  })
  .meta({ id: 'StepSummary' });

export const stepListResponse = z
  .object({
    items: z.array(stepSummaryResponse),
    cursor: z.string().optional().meta({ description: 'Present when more steps follow: pass it back as `cursor` for the next page' }),
  })
  .meta({ id: 'StepList' });

/** A map step's children, in item order (GET /v1/runs/{runId}/steps/{stepId}/children). */
export const mapChildrenPageResponse = z
  .object({
    items: z.array(stepSummaryResponse.extend({ index: z.number().int().meta({ description: "The child's item index (0-based)" }) })),
    cursor: z.string().optional(),
    counts: z
      .object({
        count: z.number().int(),
        done: z.number().int(),
        succeeded: z.number().int(),
        failed: z.number().int(),
        round: z.number().int().optional().meta({ description: '1, then one more per retry of the failed items' }),
      })
      .meta({ description: "The map's progress, from its chunks' counters" }),
  })
  .meta({ id: 'MapChildrenPage' });

export const stepDetailResponse = stepSummaryResponse
  .extend({
    allowedAttempts: z.number().int(),
    dependents: z.array(z.string()),
    retry: retryPolicy,
    timeoutSeconds: z.number().int().optional(),
    onFailure: z.literal('continue').optional(),
    labels: z.record(z.string(), z.string()).optional(),
    input: z.unknown().optional(),
    output: z.unknown().optional(),
    outputUrl: z.string().optional().meta({ description: 'A 15-minute signed URL, when the output is kept in S3' }),
    comment: z.string().optional().meta({ description: 'The comment a person approved or rejected the step with' }),
    guidance: z.string().optional().meta({ description: "A re-run's guidance, or a QA retry's reviewer note (already added to the input)" }),
    qa: qaPolicy.optional().meta({ description: "The step's own quality gate" }),
    artifacts: z.array(z.object({ name: z.string(), contentType: z.string(), size: z.number().int(), url: z.string() })),
    usage: usage.optional(),
    llmUsage: z.array(llmUsageRecordResponse).meta({ description: 'One record per model call, failed attempts included' }),
    childRun: z
      .object({ runId: z.string() })
      .optional()
      .meta({ description: "A `workflow` step: the child run its current execution started (GET /v1/runs/{runId}; the child's `parent` links back)" }),
  })
  .meta({ id: 'StepDetail' });

export const eventResponse = z
  .looseObject({
    id: z.string(),
    type: z.string(),
    projectId: z.string(),
    runId: z.string().optional(),
    stepId: z.string().optional(),
    at: timestamp,
    actor: z.string().meta({
      description: "Who acted: a token's id (shown to admins and the token itself; `token` to viewers and editors), or Baton's own actor (worker, sweeper, installation, webhook:<provider>, schedule:<id>, …)",
    }),
    actorName: z.string().optional().meta({ description: 'The name of the token that acted (every reader)' }),
    detail: z.looseObject({
      traceId: z.string().optional().meta({
        description: 'On step.started, step.completed and step.failed: the AWS X-Ray trace id of the invocation that did it (absent without a trace)',
      }),
    }),
  })
  .meta({ id: 'Event' });

export const eventPageResponse = z.object({ items: z.array(eventResponse), cursor: z.string().optional() }).meta({ id: 'EventPage' });

export const scheduleResponse = z
  .looseObject({
    id: z.string(),
    projectId: z.string(),
    workflowId: z.string(),
    expression: z.string(),
    timezone: z.string(),
    state: z.enum(['ENABLED', 'DISABLED']),
  })
  .meta({ id: 'Schedule' });

export const scheduleListResponse = z.object({ items: z.array(scheduleResponse) }).meta({ id: 'ScheduleList' });

export const triggerResponse = z
  .looseObject({
    id: z.string(),
    projectId: z.string(),
    name: z.string().optional(),
    workflowId: z.string(),
    version: z.number().int().optional().meta({ description: 'The version each event starts; the latest at the time of the event when absent' }),
    source: z.looseObject({ type: z.enum(['webhook', 'eventbridge']) }).meta({ description: 'What starts runs: a webhook delivery (provider, event, filter) or an EventBridge event (pattern)' }),
    input: z.looseObject({}).optional().meta({ description: 'How the event becomes the run\'s input: `{from: "event"}` (the default) or `{mapping: {key: JSONPath}}`' }),
    state: z.enum(['ENABLED', 'DISABLED']).meta({ description: 'DISABLED: paused, it starts nothing' }),
    rule: z.object({ name: z.string(), bus: z.string() }).optional().meta({ description: 'The EventBridge rule of an eventbridge trigger, and the bus to put events on' }),
    createdAt: timestamp,
  })
  .meta({ id: 'Trigger' });

export const triggerListResponse = z.object({ items: z.array(triggerResponse) }).meta({ id: 'TriggerList' });
