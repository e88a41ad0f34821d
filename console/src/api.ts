/**
 * The console's only way to the API: Baton's SDK (`#sdk`, generated from the contract) with the
 * signed-in token. Every call the pages make is a function here, so pages never build a URL and
 * types come from the contract.
 */
import { BatonApiError, createClient, unwrap, type components, type CreateTriggerBody } from '#sdk';

type Schemas = components['schemas'];
export type WhoAmI = Schemas['WhoAmI'];
export type Role = 'viewer' | 'editor' | 'admin';
export type Run = Schemas['Run'] & { tags?: Record<string, string> };
export type RunDetail = Schemas['RunDetail'] & { tags?: Record<string, string> };
export type RunStatus = Run['status'];
export type StepSummary = Schemas['StepSummary'];
export type StepDetail = Schemas['StepDetail'];
export type StepStatus = StepSummary['status'];
export type RunEvent = Schemas['Event'];
export type Workflow = Schemas['Workflow'];
export type WorkflowSummary = Schemas['WorkflowSummary'];
export type Project = Schemas['Project'];
export type TokenInfo = Schemas['Token'];
export type Feedback = Schemas['Feedback'];
export type FeedbackList = Schemas['FeedbackList'];
export type RunComparison = Schemas['RunComparison'];
export type Fork = Schemas['Fork'];
/** The installation's queues (installation admin only). */
export type QueueStats = Schemas['QueueStats']['items'][number];
export type PeekedMessages = Schemas['PeekedMessages'];
export type Redrive = Schemas['Redrive'];
/** A page of a map step's children with the map's counts. */
export type MapChildrenPage = Schemas['MapChildrenPage'];
export type MapChild = MapChildrenPage['items'][number];
export { BatonApiError as ApiError };

export const runStatuses: RunStatus[] = ['pending', 'running', 'paused', 'blocked', 'failed', 'cancelled', 'completed'];
export const finalRunStatuses: RunStatus[] = ['failed', 'cancelled', 'completed'];

export interface Page<T> {
  items: T[];
  cursor?: string;
}

/** A step waiting for a person (needs_qa), across runs. */
export type InboxItem = Schemas['InboxItem'];

export type SecretInfo = Schemas['Secret'];
export type Trigger = Schemas['Trigger'];
export type { CreateTriggerBody };

/** The runs listing's query: the API does the filtering (status, workflow, tag, time range). */
export interface RunQuery {
  status?: RunStatus;
  workflowId?: string;
  /** `key:value` */
  tag?: string;
  /** ISO instants: runs created in [from, to]. */
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

export function createApi(baseUrl: string, token: string) {
  const client = createClient({ baseUrl, token });
  const runPath = (runId: string) => ({ params: { path: { runId } } });
  return {
    whoami: () => unwrap(client.GET('/v1/whoami')),
    listRuns: (projectId: string, query: RunQuery): Promise<Page<Run>> => unwrap(client.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query } })),
    getRun: (runId: string): Promise<RunDetail> => unwrap(client.GET('/v1/runs/{runId}', runPath(runId))),
    /** One page of the run's steps (step-id order; map children follow their map). */
    listStepsPage: (runId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<StepSummary>> => unwrap(client.GET('/v1/runs/{runId}/steps', { params: { path: { runId }, query } })),
    /** A map step's children in item order, a page at a time, with the map's counts. */
    listStepChildren: (runId: string, stepId: string, query: { limit?: number; cursor?: string } = {}): Promise<MapChildrenPage> =>
      unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId, stepId }, query } })),
    getStep: (runId: string, stepId: string) => unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } } })),
    listEvents: (runId: string, query: { order?: 'asc' | 'desc'; limit?: number; cursor?: string }) =>
      unwrap(client.GET('/v1/runs/{runId}/events', { params: { path: { runId }, query } })),
    /** The project's events, newest first (its own, its runs' and its steps'). */
    listProjectEvents: (projectId: string, query: { limit?: number; cursor?: string }) => unwrap(client.GET('/v1/projects/{projectId}/events', { params: { path: { projectId }, query } })),
    setRunBudget: (runId: string, budget: { tokens?: number; usd?: number; mode: 'strict' | 'warn' | 'off' }) => unwrap(client.PUT('/v1/runs/{runId}/budget', { params: { path: { runId } }, body: budget })),
    /** Replaces the run's limits (every field given is kept; one left out is dropped). */
    setRunLimits: (runId: string, limits: { maxExecutedSteps?: number; maxDurationSeconds?: number; noProgressAfter?: number }) => unwrap(client.PUT('/v1/runs/{runId}/limits', { params: { path: { runId } }, body: limits })),
    runAction: (runId: string, action: 'pause' | 'resume' | 'cancel' | 'start') => unwrap(client.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId, action } } })),
    /** Retries a blocked run; `inputs` replaces the input of some failed steps. */
    retryRun: (runId: string, inputs: Record<string, unknown>) =>
      unwrap(
        client.POST('/v1/runs/{runId}/actions/retry', {
          ...runPath(runId),
          body: Object.keys(inputs).length ? { steps: Object.fromEntries(Object.entries(inputs).map(([id, input]) => [id, { input }])) } : {},
        }),
      ),
    /** Approves or rejects a waiting step; the comment is kept on the step and in its event. */
    stepAction: (runId: string, stepId: string, action: 'approve' | 'reject', comment: string) =>
      unwrap(client.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId, stepId, action } }, body: comment ? { comment } : {} })),
    /** A step's feedback (scores, comments, who gave them), with its average. */
    listStepFeedback: (runId: string, stepId: string): Promise<FeedbackList> => unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId, stepId } } })),
    addFeedback: (runId: string, stepId: string, feedback: { score: number; comment?: string }) =>
      unwrap(client.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId, stepId } }, body: { ...feedback, source: 'human' } })),
    /** Runs a completed or failed step again (a new generation), then its downstream. */
    rerunStep: (runId: string, stepId: string, body: { input?: unknown; guidance?: string }) => unwrap(client.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId, stepId } }, body })),
    /** A new run of the same workflow version reusing every output not downstream of `fromStep`. */
    forkRun: (runId: string, body: { fromStep: string; input?: unknown; stepInputs?: Record<string, unknown> }): Promise<Fork> => unwrap(client.POST('/v1/runs/{runId}/fork', { ...runPath(runId), body })),
    compareRuns: (runId: string, otherRunId: string): Promise<RunComparison> => unwrap(client.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId, otherRunId } } })),
    getWorkflow: (projectId: string, workflowId: string, version?: number) =>
      unwrap(client.GET('/v1/projects/{projectId}/workflows/{workflowId}', { params: { path: { projectId, workflowId }, query: version ? { version } : {} } })),
    listWorkflows: async (projectId: string) => (await unwrap(client.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId }, query: { limit: 100 } } }))).items,
    importPlan: (projectId: string, csv: string, options: { name?: string; dateGating?: boolean }) =>
      unwrap(
        client.POST('/v1/projects/{projectId}/workflows/import', {
          params: { path: { projectId }, query: { ...(options.name ? { name: options.name } : {}), ...(options.dateGating ? { dateGating: 'true' as const } : {}) } },
          // The route reads the CSV text as it is (the contract's only body type is text/csv).
          body: csv,
          bodySerializer: (body: string) => body,
          headers: { 'content-type': 'text/csv' },
        }),
      ),
    createRun: (projectId: string, workflowId: string) => unwrap(client.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId } })),
    listInbox: async (projectId: string): Promise<InboxItem[]> => (await unwrap(client.GET('/v1/projects/{projectId}/inbox', { params: { path: { projectId } } }))).items,
    /** The installation's projects, oldest first (installation token only). */
    listProjects: (cursor?: string): Promise<Page<Project>> => unwrap(client.GET('/v1/projects', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })),
    getProject: (projectId: string) => unwrap(client.GET('/v1/projects/{projectId}', { params: { path: { projectId } } })),
    updateSettings: (projectId: string, settings: { autoQaOnCi?: boolean; completeRunOnMerge?: boolean; publishStepEvents?: boolean }) =>
      unwrap(client.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: settings })),
    listTokens: async (projectId: string) => (await unwrap(client.GET('/v1/projects/{projectId}/tokens', { params: { path: { projectId } } }))).items,
    createToken: (projectId: string, name: string, role: Role) => unwrap(client.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId } }, body: { name, role } })),
    revokeToken: (projectId: string, tokenId: string) => unwrap(client.DELETE('/v1/projects/{projectId}/tokens/{tokenId}', { params: { path: { projectId, tokenId } } })),
    setWebhookSecret: (projectId: string, provider: 'github' | 'gitlab' | 'generic') =>
      unwrap(client.PUT('/v1/projects/{projectId}/webhook-secrets/{provider}', { params: { path: { projectId, provider } }, body: {} })),
    listSecrets: async (projectId: string): Promise<SecretInfo[]> => (await unwrap(client.GET('/v1/projects/{projectId}/secrets', { params: { path: { projectId } } }))).items,
    putSecret: (projectId: string, name: string, value: string) => unwrap(client.PUT('/v1/projects/{projectId}/secrets/{name}', { params: { path: { projectId, name } }, body: { value } })),
    /** The project's triggers (runs started by webhook deliveries or EventBridge events). */
    listTriggers: async (projectId: string): Promise<Trigger[]> => (await unwrap(client.GET('/v1/projects/{projectId}/triggers', { params: { path: { projectId } } }))).items,
    createTrigger: (projectId: string, body: CreateTriggerBody) => unwrap(client.POST('/v1/projects/{projectId}/triggers', { params: { path: { projectId } }, body })),
    triggerAction: (projectId: string, triggerId: string, action: 'pause' | 'resume') => unwrap(client.POST('/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}', { params: { path: { projectId, triggerId, action } } })),
    deleteTrigger: (projectId: string, triggerId: string) => unwrap(client.DELETE('/v1/projects/{projectId}/triggers/{triggerId}', { params: { path: { projectId, triggerId } } })),
    /** The project's Prometheus metrics, as text (what a scraper reads with a viewer token). */
    getProjectMetrics: async (projectId: string): Promise<string> =>
      String(await unwrap(client.GET('/v1/projects/{projectId}/metrics', { params: { path: { projectId } }, parseAs: 'text' }))),
    /** The installation's queues: visible, in-flight and delayed counts, oldest age (installation token only). */
    listQueues: async (): Promise<QueueStats[]> => (await unwrap(client.GET('/v1/queues'))).items,
    /** Up to 10 dead letters of a queue, left in it (each peek adds 1 to their receive count). */
    peekQueue: (name: string): Promise<PeekedMessages> => unwrap(client.GET('/v1/queues/{name}/messages', { params: { path: { name }, query: { limit: 10 } } })),
    /** Moves a dead-letter queue's messages back to the queue they came from. */
    redriveQueue: (name: string): Promise<Redrive> => unwrap(client.POST('/v1/queues/{name}/redrive', { params: { path: { name } } })),
    deleteSecret: (projectId: string, name: string) => unwrap(client.DELETE('/v1/projects/{projectId}/secrets/{name}', { params: { path: { projectId, name } } })),
  };
}

export type Api = ReturnType<typeof createApi>;
