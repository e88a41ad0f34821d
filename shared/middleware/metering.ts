import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { addUsage, currentUsage, emptyUsage, meterUsage, usageSinceCheckpoint, type Usage } from '#shared/clients/usage-meter';
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
export function createMetering({ service, logger, runUsage, env = process.env, now = Date.now }: MeteringOptions): Metering {
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

  return {
    async invocation(work) {
      const began = now();
      const byRun = new Map<string, Usage>();
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
          return await invocations.run(remainders, () => work(remainders));
        } finally {
          // The handler's wall time up to its accounting, shared like the remainders by the runs it
          // worked for (equally: records run in parallel, so their own times would overlap).
          const compute = lambdaCompute(now() - began, memoryMb);
          const runIds = [...byRun.keys()];
          for (const runId of runIds) byRun.set(runId, addUsage(byRun.get(runId)!, scaled({ ...emptyUsage(), ...compute }, 1 / runIds.length)));
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
