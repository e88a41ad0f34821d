import { z } from 'zod';
import type { Budget } from '#shared/domain/budgets';
import type { Priority } from '#shared/domain/capacity';
import type { LifecycleEvent } from '#shared/domain/events';
import type { RunLimits } from '#shared/domain/limits';
import { NonRetryableStepError, RetryableStepError } from '#shared/domain/step-errors';
import type { StepSpec } from '#shared/domain/workflow';
import type { EngineDeps } from '#shared/engine/context';
import type { Dispatch } from '#shared/engine/dispatch';
import { createRun } from '#shared/engine/create-run';
import { handleDeadLetter } from '#shared/engine/dead-letters';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import { processStartJob } from '#shared/engine/start-job';
import { createExecutorRegistry, type ExecutorRegistry } from '#shared/executors/executor-registry';
import type { Executor, StepContext } from '#shared/executors/types';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import type { StepMessage } from '#shared/schemas/messages';
import { createMemoryEngineStore } from '#shared/store/memory-engine-store';
import { recordedMetrics } from './recorded-metrics';
import type { Workflow } from '#shared/store/workflows';

/** A message on the in-memory queue: visible from `visibleAt`, redelivered until deleted (SQS at least once). */
export interface QueuedMessage {
  message: StepMessage;
  visibleAt: number;
  receives: number;
  /** When it was sent (SQS SentTimestamp). */
  sentAt?: number;
}

/** One call of the `work` executor: what ran, and whether every dependency was completed (or failed optionally) when it started. */
export interface Execution {
  runId: string;
  stepId: string;
  attempt: number;
  idempotencyKey: string;
  dependenciesDone: boolean;
}

export const projectId = 'prj_test';

/**
 * The engine on its in-memory adapters, with a controllable clock and queue: the step queue is a
 * list the test delivers from (in any order, twice, or not at all), the bus a list of published
 * events, and the `work` executor records every execution and fails when `failWhen` says so.
 */
export function createEngineHarness(
  options: {
    failWhen?: (call: { stepId: string; attempt: number }) => 'retryable' | 'fatal' | undefined;
    timing?: Partial<Pick<EngineDeps, 'defaultStepTimeoutSeconds' | 'maxStepTimeoutSeconds' | 'leaseMarginSeconds'>>;
    /** More step kinds beside `work`; each call of theirs is recorded in `executions` too. */
    executors?: Executor[];
    /** The API's base URL: given, http and lambda steps get callback URLs. */
    callbackBaseUrl?: string;
    /** The project's settings as the engine reads them (defaults otherwise). */
    settings?: () => ProjectSettings;
  } = {},
) {
  const memory = createMemoryEngineStore();
  const metrics = recordedMetrics();
  let now = Date.parse('2026-11-30T12:00:00.000Z');
  const queue: QueuedMessage[] = [];
  const published: LifecycleEvent[] = [];
  const executions: Execution[] = [];
  const deadLettered: StepMessage[] = [];
  /** Map steps' S3 objects (items and results), by key. */
  const objects = new Map<string, string>();

  const record = async (context: StepContext) => {
    // From the step's own dependsOn: kinds that ignore dependency outputs get none in their context.
    const step = await memory.store.getStep(context.runId, context.stepId);
    const dependencies = await memory.store.getSteps(context.runId, step?.dependsOn ?? []);
    executions.push({
      runId: context.runId,
      stepId: context.stepId,
      attempt: context.attempt,
      idempotencyKey: context.idempotencyKey,
      dependenciesDone: (step?.dependsOn ?? []).every((id) => dependencies.some((dependency) => dependency.stepId === id && (dependency.status === 'completed' || dependency.status === 'failed'))),
    });
  };
  const recorded = (executor: Executor): Executor => ({
    ...executor,
    run: async (input, context) => {
      await record(context);
      return executor.run(input, context);
    },
  });
  const work: Executor = {
    kind: 'work',
    input: z.unknown(),
    async run(_input, context: StepContext) {
      await record(context);
      const failure = options.failWhen?.({ stepId: context.stepId, attempt: context.attempt });
      if (failure === 'retryable') throw new RetryableStepError(`${context.stepId} failed on attempt ${context.attempt}`, { code: 'FLAKY' });
      if (failure === 'fatal') throw new NonRetryableStepError(`${context.stepId} failed for good`, { code: 'FATAL', status: 400 });
      return { status: 'completed', output: { by: context.stepId, attempt: context.attempt } };
    },
  };

  const send = (dispatches: Dispatch[]) => {
    for (const { message, delaySeconds } of dispatches) queue.push({ message: { ...message }, visibleAt: now + Math.ceil(delaySeconds ?? 0) * 1000, receives: 0, sentAt: now });
  };

  const executors = createExecutorRegistry({ executors: [work, ...(options.executors ?? []).map(recorded)] });
  // The worker's executors and the API's step kinds in one: the harness plays every function.
  const deps: EngineDeps & { executors: ExecutorRegistry } = {
    store: memory.store,
    dispatcher: { send: async (dispatches) => send(dispatches) },
    outbox: {
      // As the EventBridge outbox: events kept off the bus (publish: false) are skipped.
      async publish(committed, { mark = true, alsoMark = [] } = {}) {
        const events = committed.filter((event) => event.publish !== false);
        published.push(...events.map(({ event }) => event));
        if (mark) memory.markPublished([...alsoMark, ...events]);
        return events;
      },
    },
    artifacts: {
      storeOutput: async (_address, output) => ({ output: output ?? null }),
      storeArtifacts: async () => [],
      loadOutput: async () => null,
      storeDeliveryPayload: async (_projectId, provider, deliveryId) => `projects/${projectId}/deliveries/${provider}/${deliveryId}.json`,
    },
    mapObjects: {
      put: async (key, body) => void objects.set(key, body),
      get: async (key) => {
        if (!objects.has(key)) throw new Error(`NoSuchKey: ${key}`);
        return objects.get(key)!;
      },
      uri: (key) => `s3://test-bucket/${key}`,
    },
    executors,
    stepKinds: executors,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    metrics: metrics.recorder,
    clock: () => new Date(now),
    usage: { sinceCheckpoint: () => undefined },
    random: () => 0.5,
    // A worker's short wait moves the test's clock to its end, after what runs meanwhile (concurrent waits overlap, as real ones do).
    sleepUntil: async (time) => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      now = Math.max(now, time);
    },
    allowPrivateTargets: true,
    projectSettings: async () => options.settings?.() ?? defaultProjectSettings,
    defaultStepTimeoutSeconds: 5,
    maxStepTimeoutSeconds: 15,
    leaseMarginSeconds: 2,
    ...(options.callbackBaseUrl ? { callbackBaseUrl: async () => options.callbackBaseUrl! } : {}),
    ...options.timing,
  };

  /** The invocation's deadline: a worker of the local stage has 20 s. */
  const deadline = () => now + 20_000;

  const harness = {
    deps,
    /** What the engine reported as metrics (shared/domain/metrics.ts). */
    metrics,
    memory,
    queue,
    published,
    executions,
    deadLettered,
    objects,
    now: () => now,
    advance(seconds: number) {
      now += seconds * 1000;
    },
    /** Starts a run of these steps (kind `work` unless given); `as`: the creating function's deps (one that may die), `idempotencyKey`: its request's. */
    async startRun(
      steps: (Partial<StepSpec> & { id: string })[],
      { start = true, budget, limits, idempotencyKey, as = deps, input, priority }: { start?: boolean; budget?: Budget; limits?: RunLimits; idempotencyKey?: string; as?: EngineDeps; input?: unknown; priority?: Priority } = {},
    ) {
      const workflow: Workflow = {
        id: 'wf_test',
        projectId,
        name: 'test',
        version: 1,
        createdAt: new Date(now).toISOString(),
        steps: steps.map((step) => ({ kind: 'work', dependsOn: [], ...step })),
      };
      const { run } = await createRun(as, { projectId, workflow, actor: 'test', start, ...(budget ? { budget } : {}), ...(limits ? { limits } : {}), ...(idempotencyKey ? { idempotencyKey } : {}), ...(input !== undefined ? { input } : {}), ...(priority ? { priority } : {}) });
      return run.id;
    },
    /** Messages visible now. */
    visible: () => queue.filter((entry) => entry.visibleAt <= now),
    /**
     * Receives one visible message (the first unless `index` says) and processes it: invisible
     * while in flight, deleted on success, visible again after the visibility timeout when it throws.
     */
    async deliver(index = 0): Promise<string> {
      const entry = harness.visible()[index];
      if (!entry) throw new Error('no visible message');
      entry.receives += 1;
      entry.visibleAt = now + 20_000;
      // As the step worker: a big run's background start job, or a step.
      const result = entry.message.start ? await processStartJob(deps, entry.message.runId, entry.message.start) : await processStepMessage(deps, entry.message, deadline(), 0, undefined, entry.sentAt);
      queue.splice(queue.indexOf(entry), 1);
      return result;
    },
    /** Delivers until nothing is left, moving the clock to the next delayed message when none is visible. */
    async drain(limit = 1000) {
      for (let deliveries = 0; queue.length > 0; deliveries += 1) {
        if (deliveries >= limit) throw new Error(`queue not drained after ${limit} deliveries`);
        if (harness.visible().length === 0) now = Math.min(...queue.map((entry) => entry.visibleAt));
        await harness.deliver();
      }
    },
    /** Hands a message to the DLQ handler; `sentAt` is the SentTimestamp SQS kept (ms). */
    async deadLetter(message: StepMessage, receives = 5, sentAt?: number) {
      deadLettered.push(message);
      return handleDeadLetter(deps, message, receives, sentAt);
    },
    run: (runId: string) => memory.run(runId)!,
    step: (runId: string, stepId: string) => memory.step(runId, stepId)!,
    /** The events of one step (or of the run itself with `stepId` undefined), oldest first. */
    eventsOf: (runId: string, stepId?: string) => memory.events().filter((event) => event.runId === runId && event.stepId === stepId),
    typesOf: (runId: string, stepId?: string) => harness.eventsOf(runId, stepId).map((event) => event.type),
  };
  return harness;
}

export type EngineHarness = ReturnType<typeof createEngineHarness>;

/** The status a step's event history says it is in (DESIGN §3.4: every change has its event). */
export const statusFromEvents = (types: string[]): string => {
  const byType: Record<string, string> = {
    'step.queued': 'queued',
    'step.throttled': 'throttled',
    'step.unthrottled': 'queued',
    'step.started': 'running',
    'step.pending': 'running',
    'step.retrying': 'queued',
    'step.needs_qa': 'needs_qa',
    'step.completed': 'completed',
    'step.failed': 'failed',
    'step.cancelled': 'cancelled',
    'step.skipped': 'skipped',
    'step.retry_requested': 'queued',
    'step.rerun_requested': 'queued',
    'step.reset': 'pending',
    'step.iterated': 'pending',
  };
  return types.reduce((status, type) => byType[type] ?? status, 'pending');
};
