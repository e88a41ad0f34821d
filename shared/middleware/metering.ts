import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { addUsage, currentUsage, emptyUsage, meterUsage, usageSinceCheckpoint, type Usage } from '#shared/clients/usage-meter';
import { inTally, openTally, projectDeltas } from '#shared/store/counted-engine-store';
import type { ProjectCounterStore } from '#shared/store/project-counters';
import type { RunUsageRecorder } from '#shared/store/run-usage';

/**
 * What the work of one invocation spent that no step's record carries: a step's outcome write
 * records what was spent up to it (`usageSinceCheckpoint`), so that write itself and whatever
 * follows it (releases, publication, sends) would escape. The remainder is charged to the runs
 * the work belonged to and added to their usage when the invocation ends: one write per run per
 * invocation, not per step.
 */
export interface UsageRemainders {
  /**
   * Charges what the active scope spent since its last checkpoint to these runs, in equal
   * shares (none: it stays in the function's metrics only).
   */
  charge(runIds: readonly string[]): void;
}

export interface Metering {
  /**
   * Runs one invocation's work in a metering scope, then adds the charged remainders to their
   * runs and emits the invocation's usage as metrics (EMF: namespace Baton, dimension service).
   */
  invocation<T>(work: (remainders: UsageRemainders) => Promise<T>): Promise<T>;
}

export interface MeteringOptions {
  /** The function's name in the metrics' `service` dimension (`step-worker`, `sweeper`, …). */
  service: string;
  logger: Logger;
  /** Where a run's remainder goes (createRunUsageRecorder). */
  runUsage: RunUsageRecorder;
  /** Where the projects' counters go: what the counted engine store tallied, plus the AWS spend of the runs charged (shared/store/counted-engine-store.ts). */
  counters: Pick<ProjectCounterStore, 'add'>;
  /** Reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Milliseconds now; Date.now by default (tests pass a clock). */
  now?: () => number;
}

/** `usage` × `share` (a run's part of a remainder charged to several). */
const scaled = (usage: Usage, share: number): Usage => ({
  calls: Object.fromEntries(Object.entries(usage.calls).map(([call, count]) => [call, count * share])),
  dynamodb: { readUnits: usage.dynamodb.readUnits * share, writeUnits: usage.dynamodb.writeUnits * share },
  sqsBillableRequests: usage.sqsBillableRequests * share,
  eventsPublished: usage.eventsPublished * share,
  ...(usage.lambdaInvocations ? { lambdaInvocations: usage.lambdaInvocations * share } : {}),
  ...(usage.lambdaComputeMs ? { lambdaComputeMs: usage.lambdaComputeMs * share } : {}),
  ...(usage.lambdaGbSeconds ? { lambdaGbSeconds: usage.lambdaGbSeconds * share } : {}),
});

/**
 * The compute of `handlerMs` of handler time at the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
 * MB; Lambda bills duration as GB-seconds). Without the variable (tests, scripts) the memory counts zero.
 */
export const lambdaCompute = (handlerMs: number, memoryMb: number): Pick<Usage, 'lambdaComputeMs' | 'lambdaGbSeconds'> => ({
  lambdaComputeMs: handlerMs,
  lambdaGbSeconds: (handlerMs / 1000) * (memoryMb / 1024),
});

const functionMemoryMb = (env: Record<string, string | undefined>): number => {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return Number.isFinite(mb) && mb > 0 ? mb : 0;
};

const isEmpty = (usage: Usage): boolean => Object.keys(usage.calls).length === 0;

// The invocation in progress, so code deep in a request (an API route) can charge its run.
const invocations = new AsyncLocalStorage<UsageRemainders>();

/**
 * Charges the active scope's remainder to these runs (see UsageRemainders.charge); nothing
 * outside a metered invocation. For code that learns its run only as it works (API routes).
 */
export const chargeRemainderTo = (runIds: readonly string[]): void => invocations.getStore()?.charge(runIds);

/** The metering of one function, built once per cold start. */
export function createMetering({ service, logger, runUsage, counters, env = process.env, now = Date.now }: MeteringOptions): Metering {
  const metrics = new Metrics({ namespace: 'Baton', serviceName: service });
  const memoryMb = functionMemoryMb(env);

  const emit = (usage: Usage) => {
    metrics.addMetric('AwsCalls', MetricUnit.Count, Object.values(usage.calls).reduce((sum, count) => sum + count, 0));
    metrics.addMetric('DynamoDBWriteUnits', MetricUnit.Count, usage.dynamodb.writeUnits);
    metrics.addMetric('DynamoDBReadUnits', MetricUnit.Count, usage.dynamodb.readUnits);
    metrics.addMetric('SQSBillableRequests', MetricUnit.Count, usage.sqsBillableRequests);
    metrics.addMetric('EventsPublished', MetricUnit.Count, usage.eventsPublished);
    metrics.addMetric('LambdaComputeMilliseconds', MetricUnit.Milliseconds, usage.lambdaComputeMs ?? 0);
    metrics.publishStoredMetrics();
  };

  /**
   * The projects' counters: one UpdateItem (ADD) per project the invocation changed, with what it
   * spent (these writes and the runs' usage writes included, as the run usage charges itself).
   * Like the run usage, a failed write is logged and never fails the batch. Answers what the
   * writes themselves cost, for the runs' remainders: keeping the counters is part of their work.
   */
  const addToProjects = async (tally: ReturnType<typeof openTally>, runIds: string[], compute: Pick<Usage, 'lambdaComputeMs' | 'lambdaGbSeconds'>): Promise<Usage | undefined> => {
    const projects = new Set([...tally.byProject.keys(), ...runIds.flatMap((runId) => tally.projectOfRun.get(runId) ?? [])]);
    if (projects.size === 0) return undefined;
    const writes = projects.size + runIds.length;
    const self: Usage = { ...emptyUsage(), calls: { 'DynamoDB.UpdateItem': writes }, dynamodb: { readUnits: 0, writeUnits: writes } };
    const spent = addUsage(addUsage(currentUsage() ?? emptyUsage(), self), { ...emptyUsage(), ...compute });
    const { usage } = await meterUsage(() =>
      Promise.all(
        [...projectDeltas(tally, runIds, spent)].map(([projectId, delta]) =>
          counters.add(projectId, delta).catch((error: unknown) => logger.warn('counters not added to their project', { projectId, error })),
        ),
      ),
    );
    return usage;
  };

  return {
    async invocation(work) {
      const began = now();
      const byRun = new Map<string, Usage>();
      const tally = openTally();
      const remainders: UsageRemainders = {
        charge(runIds) {
          const since = usageSinceCheckpoint();
          if (!since || isEmpty(since) || runIds.length === 0) return;
          const share = scaled(since, 1 / runIds.length);
          for (const runId of runIds) byRun.set(runId, addUsage(byRun.get(runId) ?? emptyUsage(), share));
        },
      };
      const { result } = await meterUsage(async () => {
        try {
          return await invocations.run(remainders, () => inTally(tally, () => work(remainders)));
        } finally {
          // The handler's wall time up to its accounting, shared like the remainders by the runs it
          // worked for (equally: records run in parallel, so their own times would overlap).
          const compute = lambdaCompute(now() - began, memoryMb);
          const runIds = [...byRun.keys()];
          // The counters first: their writes are charged to the runs with the compute.
          const counted = await addToProjects(tally, runIds, compute);
          const extra = addUsage({ ...emptyUsage(), ...compute }, counted ?? emptyUsage());
          for (const runId of runIds) byRun.set(runId, addUsage(byRun.get(runId)!, scaled(extra, 1 / runIds.length)));
          await Promise.all(
            [...byRun].map(([runId, usage]) =>
              // Accounting must not undo the work: the batch stays done, the loss is logged.
              runUsage(runId, usage).catch((error: unknown) => logger.warn('usage not added to its run', { runId, usage, error })),
            ),
          );
          emit({ ...(currentUsage() ?? emptyUsage()), ...compute });
        }
      });
      return result;
    },
  };
}
