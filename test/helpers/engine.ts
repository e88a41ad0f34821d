import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { collect, runEvents, unwrap, waitForRun, waitForStep, type CreateRunBody, type Event, type RunDetail, type RunStatus, type StepDetail, type StepStatus, type SaveWorkflowBody } from '#sdk';
import { keys } from '#shared/store/keys';
import { aws } from './aws';
import { eventually } from './poll';
import { batonClient, createProject, type CreatedProject } from './projects';
import { stack } from './stack';

export type RunEvent = Event;

/** A run as the API answers it, with the per-step usage averages the contract leaves open typed as numbers. */
export type RunView = RunDetail & { usage: { perExecutedStep?: Record<string, number> } };

export interface DeliveryReactions {
  completedSteps: string[];
  approvedGates: string[];
  failedGates: string[];
  completedRuns: string[];
  startedRuns: string[];
}

/** Tests poll often: the SDK's default backoff (up to 5 s between reads) would only add waiting. */
const testPolling = { initialIntervalMs: 250, maxIntervalMs: 500 } as const;

/**
 * A new project with its admin token, the SDK's client with that token (`baton`), and a few
 * shorthands over that client for what almost every test does.
 */
export async function engineClient(name = 'engine') {
  const project: CreatedProject = await createProject(name);
  const token = project.adminToken.token;
  const projectId = project.id;
  const baton = batonClient(token);
  const client = {
    project,
    projectId,
    token,
    baton,
    /** Saves a workflow (a new one, or a new version of one by name); returns its id. */
    async workflow(body: SaveWorkflowBody): Promise<string> {
      return (await unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body }))).id;
    },
    /** Creates a run of a saved workflow (started unless `start: false`). */
    run(workflowId: string, extra: Omit<CreateRunBody, 'workflowId'> = {}, idempotencyKey?: string) {
      return unwrap(
        baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId }, header: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} }, body: { workflowId, ...extra } }),
      );
    },
    /** Imports a plan CSV as a workflow, sent as text the way the CLI's `plan import` sends it. */
    importPlan(csv: string, query: { name?: string; dateGating?: 'true' | 'false' } = {}) {
      return unwrap(
        baton.POST('/v1/projects/{projectId}/workflows/import', {
          params: { path: { projectId }, query },
          body: csv,
          bodySerializer: (body: unknown) => body as string,
          headers: { 'content-type': 'text/csv' },
        }),
      );
    },
    async getRun(runId: string): Promise<RunView> {
      return (await unwrap(baton.GET('/v1/runs/{runId}', { params: { path: { runId } } })));
    },
    step(runId: string, stepId: string): Promise<StepDetail> {
      return unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } } }));
    },
    /** Polls the run until it reaches one of `statuses`. */
    async waitFor(runId: string, statuses: RunStatus[], timeoutMs = 60_000): Promise<RunView> {
      return (await waitForRun(baton, runId, { ...testPolling, timeoutMs, until: (run) => statuses.includes(run.status) }));
    },
    /** Polls the step until it reaches one of `statuses`. */
    waitForStep(runId: string, stepId: string, statuses: StepStatus[], timeoutMs = 60_000): Promise<StepDetail> {
      return waitForStep(baton, runId, stepId, { ...testPolling, timeoutMs, until: (step) => statuses.includes(step.status) });
    },
    /** Polls until the webhook reactions have handled a delivery (its record says so); returns what it did. */
    async waitForDeliveryHandled(provider: string, deliveryId: string, timeoutMs = 30_000): Promise<DeliveryReactions> {
      return eventually(`delivery ${provider}/${deliveryId} to be handled`, async () => {
        const record = await client.deliveryRecord(provider, deliveryId);
        return record?.handledAt ? (record.reactions as DeliveryReactions) : undefined;
      }, { timeoutMs, intervalMs: 300 });
    },
    /** The dedupe record of a delivery, as stored (undefined when it was never accepted). */
    async deliveryRecord(provider: string, deliveryId: string): Promise<Record<string, unknown> | undefined> {
      const { Item } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: keys.delivery(projectId, provider, deliveryId), ConsistentRead: true }));
      return Item;
    },
    /** Every event of the run, oldest first, following the cursor. */
    async events(runId: string): Promise<RunEvent[]> {
      return collect(runEvents(baton, runId, { pageSize: 200 }));
    },
  };
  return client;
}

export type EngineClient = Awaited<ReturnType<typeof engineClient>>;

/** Asserts from the event history that no step started before all its dependencies completed. */
export function expectDependencyOrder(events: RunEvent[], steps: { id: string; dependsOn?: string[] }[]): void {
  const completedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  for (const event of events) {
    if (!event.stepId) continue;
    if (event.type === 'step.completed') completedAt.set(event.stepId, Date.parse(event.at));
    if (event.type === 'step.started' && !startedAt.has(event.stepId)) startedAt.set(event.stepId, Date.parse(event.at));
  }
  for (const step of steps) {
    expect(startedAt.has(step.id), `step ${step.id} started`).toBe(true);
    for (const dependency of step.dependsOn ?? []) {
      expect(startedAt.get(step.id)!, `${step.id} started after ${dependency} completed`).toBeGreaterThanOrEqual(completedAt.get(dependency)!);
    }
  }
}
