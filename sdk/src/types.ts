import type { components, operations } from './schema';

/** Names for the contract's schemas (generated into ./schema.ts from docs/openapi.json). */
type Schemas = components['schemas'];

export type ApiError = Schemas['Error'];
export type WhoAmI = Schemas['WhoAmI'];
export type Project = Schemas['Project'];
export type ProjectSettings = Schemas['ProjectSettings'];
export type Token = Schemas['Token'];
export type Workflow = Schemas['Workflow'];
export type SavedWorkflow = Schemas['SavedWorkflow'];
export type Run = Schemas['Run'];
export type RunDetail = Schemas['RunDetail'];
export type StepSummary = Schemas['StepSummary'];
export type StepDetail = Schemas['StepDetail'];
/** A page of a map step's children (`GET /v1/runs/{runId}/steps/{stepId}/children`) with the map's `counts`. */
export type MapChildrenPage = Schemas['MapChildrenPage'];
/** One child of a map step: a step summary with its item `index`. */
export type MapChild = MapChildrenPage['items'][number];
/** `GET /v1/queues`: each queue's counts and oldest age (installation admin). */
export type QueueStats = Schemas['QueueStats'];
/** `GET /v1/queues/{name}/messages`: dead letters peeked without consuming them. */
export type PeekedMessages = Schemas['PeekedMessages'];
/** `POST /v1/queues/{name}/redrive`. */
export type Redrive = Schemas['Redrive'];
export type Event = Schemas['Event'];
export type Schedule = Schemas['Schedule'];
/** A trigger: runs of a workflow started by webhook deliveries or EventBridge events. */
export type Trigger = Schemas['Trigger'];
/** Spend against each budget of a run (`RunDetail.budgets`). */
export type RunBudgets = Schemas['RunBudgets'];
export type Feedback = Schemas['Feedback'];
export type FeedbackList = Schemas['FeedbackList'];
export type FeedbackAverages = Schemas['FeedbackAverages'];
/** The answer of a step's re-run: the run, the step (its new generation) and what runs after it. */
export type Rerun = Schemas['Rerun'];
/** A fork: the new run, `forkedFrom` and the steps it `reused`. */
export type Fork = Schemas['Fork'];
export type RunComparison = Schemas['RunComparison'];
/** Where a step's quality gate is (`StepDetail.gate`): its policy, state and latest score. */
export type StepGate = Schemas['StepGate'];
/** What a throttled step waits for (`StepSummary.throttle`). */
export type StepThrottle = NonNullable<StepSummary['throttle']>;
/** A run's guards and the executions started so far (`RunDetail.limits`). */
export type RunLimits = Schemas['RunLimitsDetail'];

export type RunStatus = Run['status'];
export type StepStatus = StepSummary['status'];
export type CreateRunBody = NonNullable<operations['createRun']['requestBody']>['content']['application/json'];
export type SaveWorkflowBody = NonNullable<operations['saveWorkflow']['requestBody']>['content']['application/json'];
type JsonBody<Operation extends keyof operations> = NonNullable<operations[Operation]['requestBody']> extends { content: { 'application/json': infer Body } } ? Body : never;
/** `POST /v1/projects/{projectId}/triggers`. */
export type CreateTriggerBody = JsonBody<'createTrigger'>;
/** `PUT /v1/runs/{runId}/budget`. */
export type RunBudgetBody = JsonBody<'setRunBudget'>;
/** `POST /v1/runs/{runId}/steps/{stepId}/feedback`. */
export type FeedbackBody = JsonBody<'giveStepFeedback'>;
/** `POST /v1/runs/{runId}/steps/{stepId}/actions/rerun`. */
export type RerunBody = JsonBody<'rerunStep'>;
/** `POST /v1/runs/{runId}/fork`. */
export type ForkBody = JsonBody<'forkRun'>;
/** `PUT /v1/runs/{runId}/limits`. */
export type RunLimitsBody = JsonBody<'setRunLimits'>;
/** `PATCH /v1/projects/{projectId}/settings`: budgets, limits, concurrency, the default quality gate, … */
export type ProjectSettingsBody = JsonBody<'updateProjectSettings'>;
