import { AsyncLocalStorage } from 'node:async_hooks';
import type { Usage } from '#shared/clients/usage-meter';
import { estimateComputeUsd, estimateCostUsd } from '#shared/domain/cost';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import { countEvent, countModelUsage, emptyCounters, type ProjectCounters, type ReportedUsage } from '#shared/domain/project-counters';
import type { EngineStore, Written } from '#shared/engine/store';

/**
 * What one invocation changed, per project: the counters of the writes it won, and which project
 * each run it touched belongs to (so what it spent on AWS can be charged to the run's project).
 * Added to the projects' counter items once when the invocation ends (createMetering).
 */
export interface InvocationTally {
  byProject: Map<string, ProjectCounters>;
  projectOfRun: Map<string, string>;
}

export const openTally = (): InvocationTally => ({ byProject: new Map(), projectOfRun: new Map() });

const tallies = new AsyncLocalStorage<InvocationTally>();

/** Runs `work` with `tally` as the invocation's: the counted store adds to it (outside any, it counts nothing). */
export const inTally = <T>(tally: InvocationTally, work: () => Promise<T>): Promise<T> => tallies.run(tally, work);

/** The counters of `projectId` in the active tally (created on first use). */
const countersOf = (tally: InvocationTally, projectId: string): ProjectCounters => {
  let counters = tally.byProject.get(projectId);
  if (!counters) tally.byProject.set(projectId, (counters = emptyCounters()));
  return counters;
};

type UsageCarrier = { llmUsage?: LlmUsageRecord[]; agentUsage?: unknown; outcome?: { agentUsage?: unknown } };
const reportedOf = (carrier: UsageCarrier): ReportedUsage | undefined => (carrier.agentUsage ?? carrier.outcome?.agentUsage) as ReportedUsage | undefined;

/**
 * The argument of each outcome write that carries the model calls it appends to the step
 * (Completion, Failure, a gate's write, a retry's change): counted when the write wins, once,
 * as the step's own llmUsage list records them.
 */
const usageArgument: Partial<Record<keyof EngineStore, number>> = { complete: 0, fail: 0, gate: 0, retry: 2 };

const isWritten = (value: unknown): value is Written & { won: true } =>
  typeof value === 'object' && value !== null && (value as { won?: unknown }).won === true && Array.isArray((value as { events?: unknown }).events);

/** Remembers the project of a run read (its AWS spend is charged to that project). */
function noteRuns(tally: InvocationTally, value: unknown): void {
  const candidates = Array.isArray(value) ? [] : [value, (value as { run?: unknown } | undefined)?.run];
  for (const candidate of candidates) {
    const run = candidate as { id?: unknown; projectId?: unknown } | undefined;
    if (typeof run?.id === 'string' && run.id.startsWith('run_') && typeof run.projectId === 'string') tally.projectOfRun.set(run.id, run.projectId);
  }
}

function note(method: string, args: unknown[], result: unknown): void {
  const tally = tallies.getStore();
  if (!tally) return;
  noteRuns(tally, result);
  if (!isWritten(result)) return;
  let projectId: string | undefined;
  for (const { event } of result.events) {
    projectId = event.projectId;
    if (event.runId) tally.projectOfRun.set(event.runId, event.projectId);
    countEvent(countersOf(tally, event.projectId), event.type);
  }
  const at = usageArgument[method as keyof EngineStore];
  const carrier = at === undefined ? undefined : (args[at] as UsageCarrier | undefined);
  const runId = (args[0] as { runId?: unknown } | undefined)?.runId ?? args[0];
  projectId ??= typeof runId === 'string' ? tally.projectOfRun.get(runId) : undefined;
  if (carrier && projectId) countModelUsage(countersOf(tally, projectId), carrier.llmUsage, reportedOf(carrier));
}

/** `target` with every method (and those of its sub-ports: budgets, limits, maps…) counting what it wins. */
function counting<T extends object>(target: T, depth = 0): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(target) as [string, unknown][]) {
    if (typeof value === 'function') {
      const method = value as (...args: unknown[]) => unknown;
      wrapped[name] = (...args: unknown[]) => {
        const result = method.apply(target, args);
        if (result instanceof Promise) {
          return result.then((settled: unknown) => {
            note(name, args, settled);
            return settled;
          });
        }
        note(name, args, result);
        return result;
      };
    } else if (depth === 0 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      wrapped[name] = counting(value, depth + 1);
    } else {
      wrapped[name] = value;
    }
  }
  return wrapped as T;
}

/**
 * The engine's store, counting as it writes: every won write's events become status entries of
 * their project (run.completed: a run entered completed), and the model calls an outcome write
 * appends become token and USD totals, in the invocation's tally. No write of its own: the tally
 * is added to the projects' counters once per invocation (shared/middleware/metering.ts).
 */
export const countedEngineStore = (store: EngineStore): EngineStore => counting(store);

/**
 * The tally's counters per project, with what the invocation spent on AWS (`spent`, its compute
 * included) charged to the projects of the runs it charged (`chargedRuns`, in equal shares, as
 * the meter shares its remainders and compute): what the run views would sum, priced.
 */
export function projectDeltas(tally: InvocationTally, chargedRuns: readonly string[], spent: Usage): Map<string, ProjectCounters> {
  const deltas = new Map(tally.byProject);
  const projects = chargedRuns.map((runId) => tally.projectOfRun.get(runId)).filter((projectId): projectId is string => projectId !== undefined);
  if (chargedRuns.length > 0) {
    const share = 1 / chargedRuns.length;
    const requestsUsd = estimateCostUsd(spent).totalUsd * share;
    const computeUsd = estimateComputeUsd(spent).usd * share;
    for (const projectId of projects) {
      const counters = deltas.get(projectId) ?? emptyCounters();
      deltas.set(projectId, { ...counters, awsCostUsd: counters.awsCostUsd + requestsUsd, lambdaComputeUsd: counters.lambdaComputeUsd + computeUsd });
    }
  }
  return deltas;
}
