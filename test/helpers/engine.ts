import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { collect, createClient, runEvents, unwrap } from '#sdk';
import { api, createProject, type CreatedProject } from './api';
import { aws } from './aws';
import { eventually } from './poll';
import { stack } from './stack';

export interface RunEvent {
  id: string;
  type: string;
  stepId?: string;
  at: string;
  actor: string;
  detail: Record<string, unknown>;
}

export interface RunView {
  id: string;
  status: string;
  reason?: string;
  failedSteps?: string[];
  heldSteps?: string[];
  steps: { total: number; byStatus: Record<string, number> };
  usage: Record<string, unknown> & { perExecutedStep?: Record<string, number> };
  startedAt?: string;
  finishedAt?: string;
  createdAt: string;
}

export interface StepView {
  id: string;
  status: string;
  attempt: number;
  generation: number;
  output?: unknown;
  outputUrl?: string;
  error?: { message: string; code?: string; retryable: boolean; status?: number };
  artifacts: { name: string; url: string; contentType: string; size: number }[];
}

export interface DeliveryReactions {
  completedSteps: string[];
  approvedGates: string[];
  failedGates: string[];
  completedRuns: string[];
}

/** A project with a token, and shortcuts to the engine's routes with that token. */
export async function engineClient(name = 'engine') {
  const project: CreatedProject = await createProject(name);
  const token = project.adminToken.token;
  /** The SDK's client with the project's admin token (reads go through it; malformed requests through `api`). */
  const baton = createClient({ baseUrl: stack.apiUrl, token });
  const client = {
    project,
    token,
    baton,
    async workflow(body: unknown): Promise<string> {
      const response = await api<{ id: string }>('POST', `/v1/projects/${project.id}/workflows`, { token, body });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body.id;
    },
    async run(workflowId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
      const response = await api<{ id: string; status: string }>('POST', `/v1/projects/${project.id}/runs`, { token, body: { workflowId, ...extra }, headers });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body;
    },
    async getRun(runId: string): Promise<RunView> {
      return unwrap(baton.GET('/v1/runs/{runId}', { params: { path: { runId } } }));
    },
    async step(runId: string, stepId: string): Promise<StepView> {
      return unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } } }));
    },
    action(runId: string, action: string, body?: unknown) {
      return api<RunView & { error?: { code: string; message: string } }>('POST', `/v1/runs/${runId}/actions/${action}`, { token, ...(body !== undefined ? { body } : {}) });
    },
    stepAction(runId: string, stepId: string, action: string, body?: unknown) {
      return api<StepView & { error?: { code: string } }>('POST', `/v1/runs/${runId}/steps/${stepId}/actions/${action}`, { token, ...(body !== undefined ? { body } : {}) });
    },
    /** Polls the run until it reaches one of `statuses`. */
    waitFor(runId: string, statuses: string[], timeoutMs = 60_000): Promise<RunView> {
      return eventually(
        `run ${runId} to be ${statuses.join(' or ')}`,
        async () => {
          const run = await client.getRun(runId);
          return statuses.includes(run.status) ? run : undefined;
        },
        { timeoutMs, intervalMs: 500 },
      );
    },
    async waitForStep(runId: string, stepId: string, statuses: string[], timeoutMs = 60_000): Promise<StepView> {
      return eventually(`step ${stepId} to be ${statuses.join(' or ')}`, async () => {
        const step = await client.step(runId, stepId);
        return statuses.includes(step.status) ? step : undefined;
      }, { timeoutMs, intervalMs: 500 });
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
      const { Item } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: { pk: `PROJECT#${project.id}`, sk: `DELIVERY#${provider}#${deliveryId}` }, ConsistentRead: true }));
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
