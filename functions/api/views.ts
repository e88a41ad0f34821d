import { addUsage, emptyUsage, usageFromItem, type Usage } from '#shared/clients/usage-meter';
import { estimateComputeUsd, estimateCostUsd } from '#shared/domain/cost';
import { sumLlmUsage } from '#shared/domain/llm-usage';
import { isMapChildId } from '#shared/domain/map-step';
import type { GateState } from '#shared/domain/quality-gates';
import { stepStatuses } from '#shared/domain/states';
import type { ArtifactStore } from '#shared/store/artifacts';
import { generationOf, type RunRecord, type StepRecord, type StepThrottle } from '#shared/store/runs';

/** A run as the API shows it: status, step counts by status, usage and its estimated cost. */
export function runView(run: RunRecord, steps: StepRecord[] | undefined, ownUsage?: unknown, children?: { total: number; done: number; succeeded: number; failed: number }) {
  const view = {
    id: run.id,
    projectId: run.projectId,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    status: run.status,
    ...(run.reason ? { reason: run.reason } : {}),
    ...(run.input !== undefined ? { input: run.input } : {}),
    ...(run.git ? { git: run.git } : {}),
    ...(run.tags ? { tags: run.tags } : {}),
    createdAt: run.createdAt,
    ...(run.startedAt ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(run.failedSteps?.length ? { failedSteps: run.failedSteps } : {}),
    ...(run.failedOptionalSteps?.length ? { failedOptionalSteps: run.failedOptionalSteps } : {}),
    ...(run.degraded ? { degraded: true } : {}),
    ...(run.heldSteps?.length ? { heldSteps: run.heldSteps } : {}),
    ...(run.budget ? { budget: run.budget } : {}),
    ...(run.limits ? { limits: run.limits } : {}),
    ...(run.priority ? { priority: run.priority } : {}),
    ...(run.forkedFrom ? { forkedFrom: run.forkedFrom } : {}),
    ...(run.parent ? { parent: run.parent } : {}),
  };
  if (!steps) return view;
  // A map's children are counted in `children` (from its chunks), not as the run's steps; and
  // the map step carries their summed AWS usage, so theirs would count twice. Their agent and LLM
  // usage (and executions) are theirs alone: summed from them below.
  const own = steps.filter((step) => !isMapChildId(step.stepId));
  const byStatus = Object.fromEntries(stepStatuses.map((status) => [status, 0])) as Record<string, number>;
  for (const step of own) byStatus[step.status] = (byStatus[step.status] ?? 0) + 1;
  const usage = runUsage(run, own, ownUsage);
  const executed = steps.filter((step) => step.attempt > 0).length;
  return {
    ...view,
    steps: { total: run.totalSteps, byStatus, ...(children ? { children } : {}) },
    usage: {
      ...usage,
      cost: estimateCostUsd(usage),
      // Beside the request cost, not in it (issue 11 §4): Baton's handler time × memory.
      lambdaCompute: estimateComputeUsd(usage),
      perExecutedStep: executed ? perStep(usage, executed) : undefined,
      agentUsage: agentUsage(steps),
      llm: sumLlmUsage(steps.flatMap((step) => step.llmUsage ?? [])),
      cache: cacheUsage(steps),
    },
  };
}

/**
 * What the run cost Baton: its creation and the remainders added to the run (its usage item, or
 * the run item for runs from before it), and every step's processing (docs/ARCHITECTURE.md, "Usage accounting").
 */
function runUsage(run: RunRecord, steps: StepRecord[], ownUsage: unknown): Usage {
  const own = [run.usage, ownUsage].reduce<Usage>((total, usage) => (usage ? addUsage(total, usageFromItem(usage)) : total), emptyUsage());
  return steps.reduce((total, step) => (step.usage ? addUsage(total, usageFromItem(step.usage)) : total), own);
}

function perStep(usage: Usage, steps: number) {
  const calls = Object.values(usage.calls).reduce((sum, count) => sum + count, 0);
  const writeCalls = Object.entries(usage.calls)
    .filter(([name]) => /^DynamoDB\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/.test(name))
    .reduce((sum, [, count]) => sum + count, 0);
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    steps,
    awsCalls: round(calls / steps),
    dynamodbWriteCalls: round(writeCalls / steps),
    dynamodbWriteUnits: round(usage.dynamodb.writeUnits / steps),
    dynamodbReadUnits: round(usage.dynamodb.readUnits / steps),
    sqsBillableRequests: round(usage.sqsBillableRequests / steps),
  };
}

function agentUsage(steps: StepRecord[]) {
  let input = 0;
  let output = 0;
  let costUsd = 0;
  for (const step of steps) {
    const usage = step.agentUsage;
    input += usage?.tokens?.input ?? 0;
    output += usage?.tokens?.output ?? 0;
    costUsd += usage?.costUsd ?? 0;
  }
  return { tokens: { input, output }, costUsd };
}

/** Hits and misses of http steps with `cache`, over the run's completed steps. */
function cacheUsage(steps: StepRecord[]) {
  return steps.reduce(
    (total, step) => ({ hits: total.hits + (step.agentUsage?.cache?.hits ?? 0), misses: total.misses + (step.agentUsage?.cache?.misses ?? 0) }),
    { hits: 0, misses: 0 },
  );
}

/** A step as the API lists it. */
export function stepSummary(step: StepRecord) {
  return {
    id: step.stepId,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    generation: generationOf(step),
    dependsOn: step.dependsOn,
    ...(step.notBefore ? { notBefore: step.notBefore } : {}),
    ...(step.queuedAt ? { queuedAt: step.queuedAt } : {}),
    ...(step.startedAt ? { startedAt: step.startedAt } : {}),
    ...(step.finishedAt ? { finishedAt: step.finishedAt } : {}),
    ...(step.error ? { error: step.error } : {}),
    ...(step.reusedFrom ? { reusedFrom: step.reusedFrom } : {}),
    ...(step.plannedBy ? { plannedBy: step.plannedBy } : {}),
    ...(step.iteration ? { iteration: step.iteration } : {}),
    ...(step.gate ? { gate: gateView(step.gate) } : {}),
    ...(step.status === 'throttled' && step.throttle ? { throttle: throttleView(step.throttle) } : {}),
  };
}

/** What a throttled step waits for, without the store's bookkeeping (its list entry and scope). */
const throttleView = (throttle: StepThrottle) =>
  throttle.kind === 'rate'
    ? { kind: throttle.kind, key: throttle.key, perSecond: throttle.perSecond, since: throttle.since, until: throttle.until }
    : { kind: throttle.kind, key: throttle.key, limit: throttle.limit, since: throttle.since };

/** A step's quality gate as the API shows it: where it is and the latest score (its policy is the step's `qa`, or the project's). */
const gateView = ({ policy, from, state, retries, score, comment, error }: GateState) => ({
  state,
  from,
  reviewer: policy.reviewer === 'human' ? 'human' : policy.reviewer.kind,
  threshold: policy.threshold,
  onBelow: policy.onBelow,
  retries,
  maxRetries: policy.maxRetries,
  ...(score !== undefined ? { score } : {}),
  ...(comment ? { comment } : {}),
  ...(error ? { error } : {}),
});

/** A step in full: output inline or by signed URL, artifacts by signed URL. */
export async function stepDetail(step: StepRecord, artifacts: ArtifactStore) {
  return {
    ...stepSummary(step),
    allowedAttempts: step.allowedAttempts,
    dependents: step.dependents,
    retry: step.retry,
    ...(step.timeoutSeconds ? { timeoutSeconds: step.timeoutSeconds } : {}),
    ...(step.onFailure ? { onFailure: step.onFailure } : {}),
    ...(step.labels ? { labels: step.labels } : {}),
    ...(step.input !== undefined ? { input: step.input } : {}),
    ...(step.output !== undefined ? { output: step.output } : {}),
    ...(step.outputRef ? { outputUrl: await artifacts.signedUrl(step.outputRef) } : {}),
    ...(step.comment ? { comment: step.comment } : {}),
    ...(step.guidance ? { guidance: step.guidance } : {}),
    ...(step.qa ? { qa: step.qa } : {}),
    artifacts: await Promise.all(
      (step.artifacts ?? []).map(async (artifact) => ({
        name: artifact.name,
        contentType: artifact.contentType,
        size: artifact.size,
        url: await artifacts.signedUrl(artifact.key),
      })),
    ),
    ...(step.usage ? { usage: usageFromItem(step.usage) } : {}),
    llmUsage: step.llmUsage ?? [],
  };
}

/** A step waiting in needs_qa as the inbox shows it. */
export function inboxItem({ step, run }: { step: StepRecord; run: RunRecord }) {
  const since = step.waitingSince ?? step.startedAt ?? run.createdAt;
  const prompt = step.kind === 'approval' && step.input && typeof step.input === 'object' ? (step.input as { prompt?: unknown }).prompt : undefined;
  return {
    runId: run.id,
    stepId: step.stepId,
    kind: step.kind,
    waitingFor: step.waitingFor ?? 'waiting',
    since,
    ...(step.timeoutSeconds ? { deadline: new Date(Date.parse(since) + step.timeoutSeconds * 1000).toISOString() } : {}),
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    runStatus: run.status,
    ...(typeof prompt === 'string' ? { prompt } : {}),
  };
}
