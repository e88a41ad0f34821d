import type { LifecycleEvent } from '#shared/domain/events';
import { ConflictError } from '#shared/domain/errors';
import { finalRunStatuses, stepTransitions } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { correlationKeys, type NormalizedDelivery } from '#shared/domain/webhook-deliveries';
import type { ProjectSettings } from '#shared/schemas/projects';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { applyEffects } from './dispatch';
import { stepsPerWrite } from './store';
import type { DeliveryDetail } from './webhook-deliveries';
import { completeStep, failStep } from './step-outcomes';
import { startFromDelivery, type TriggerStartDeps } from './triggers';

/** What one delivery did, for the log and the tests. */
export interface ReactionReport {
  /** `runId/stepId` of the `webhook` steps it completed. */
  completedSteps: string[];
  /** `runId/stepId` of the approval gates CI approved. */
  approvedGates: string[];
  /** `runId/stepId` of the approval gates CI failed. */
  failedGates: string[];
  /** Runs completed because their branch was merged. */
  completedRuns: string[];
  /** Runs started by the project's webhook triggers (shared/engine/triggers.ts), new or found again. */
  startedRuns: string[];
}

export interface ReactionDeps {
  engine: EngineDeps;
  /** The project's settings, or undefined when the project is gone. */
  settingsOf: (projectId: string) => Promise<ProjectSettings | undefined>;
  /** The project's triggers and workflows: a matching delivery starts runs. */
  triggers: Pick<TriggerStartDeps, 'triggers' | 'workflows'>;
}

/**
 * Everything a `webhook.received` event causes, each part idempotent (conditional transitions,
 * waits deleted after use), so an event delivered twice changes nothing the second time:
 * 1. the runs mapped to the delivery's branch react to it, per the project's settings:
 *    CI success approves their waiting approval gates, CI failure fails them with the CI's URL
 *    (`autoQaOnCi`), a merged PR/MR completes them (`completeRunOnMerge`);
 * 2. the project's webhook triggers it matches start their runs (idempotent per trigger and delivery);
 * 3. the `webhook` steps waiting for one of its correlation keys complete with it as output.
 * Run reactions go first, so a test (or a user) who sees a correlated step complete knows the
 * run reactions to the same delivery are done.
 */
export async function reactToDelivery({ engine, settingsOf, triggers }: ReactionDeps, event: LifecycleEvent): Promise<ReactionReport> {
  const delivery = event.detail as unknown as DeliveryDetail;
  const report: ReactionReport = { completedSteps: [], approvedGates: [], failedGates: [], completedRuns: [], startedRuns: [] };
  const settings = await settingsOf(event.projectId);
  if (!settings) return report;
  await reactOnBranch(engine, event.projectId, settings, delivery, report);
  report.startedRuns.push(...(await startFromDelivery({ ...engine, ...triggers }, event.projectId, delivery)));
  await completeWaitingSteps(engine, event.projectId, delivery, report);
  await recordHandled(engine, event.projectId, delivery, report);
  return report;
}

/** Marks the delivery's record with what it did: when it was handled shows it was (ops, tests). */
async function recordHandled(deps: EngineDeps, projectId: string, delivery: NormalizedDelivery, report: ReactionReport): Promise<void> {
  await deps.store.markDeliveryHandled(projectId, delivery.provider, delivery.deliveryId, deps.clock().toISOString(), report);
}

async function reactOnBranch(deps: EngineDeps, projectId: string, settings: ProjectSettings, delivery: NormalizedDelivery, report: ReactionReport): Promise<void> {
  if (!delivery.repository || !delivery.branch) return;
  const ci = settings.autoQaOnCi && (delivery.ciStatus === 'success' || delivery.ciStatus === 'failure') ? delivery.ciStatus : undefined;
  const merge = settings.completeRunOnMerge && delivery.merged === true;
  if (!ci && !merge) return;
  const actor = `webhook:${delivery.provider}`;
  const { repository, branch } = delivery;
  for (const runId of await deps.store.branchRuns(projectId, repository, branch)) {
    const run = await deps.store.getRun(runId);
    if (!run || finalRunStatuses.includes(run.status)) {
      // A finished run reacts to nothing more: drop its mapping now rather than at its TTL.
      await deps.store.forgetBranchRun(projectId, repository, branch, runId);
      continue;
    }
    if (merge) {
      if (await completeRunEarly(deps, run, actor, { reason: `${delivery.branch} was merged`, detail: mergeDetail(delivery) })) report.completedRuns.push(run.id);
      await deps.store.forgetBranchRun(projectId, repository, branch, runId);
    } else if (ci) {
      await reactToCi(deps, run, ci, delivery, actor, report);
    }
  }
}

const mergeDetail = (delivery: NormalizedDelivery) => ({
  by: 'merge',
  provider: delivery.provider,
  deliveryId: delivery.deliveryId,
  ...(delivery.pullRequest !== undefined ? { pullRequest: delivery.pullRequest } : {}),
  ...(delivery.url ? { url: delivery.url } : {}),
});

/** CI verdict on the run's branch: its approval gates waiting in needs_qa pass or fail with it. */
async function reactToCi(deps: EngineDeps, run: RunRecord, ci: 'success' | 'failure', delivery: NormalizedDelivery, actor: string, report: ReactionReport): Promise<void> {
  const gates = (await deps.store.listSteps(run.id)).filter((step) => step.kind === 'approval' && step.status === 'needs_qa');
  for (const gate of gates) {
    const effects =
      ci === 'success'
        ? await completeStep(deps, run, gate, { status: 'completed', output: { approvedBy: actor, ci: ciSummary(delivery) } }, { actor, transition: 'approve' })
        : await failStep(
            deps,
            run,
            gate,
            new NonRetryableStepError(`CI failed on ${delivery.branch}${delivery.url ? `: ${delivery.url}` : ''}`, { code: 'CI_FAILED', ...(delivery.url ? { url: delivery.url } : {}) }),
            { actor, transition: 'reject' },
          );
    // Approved, rejected or timed out meanwhile (lost): the first decision stands.
    if (!effects) continue;
    await applyEffects(deps, effects);
    (ci === 'success' ? report.approvedGates : report.failedGates).push(`${run.id}/${gate.stepId}`);
  }
}

const ciSummary = (delivery: NormalizedDelivery) => ({
  provider: delivery.provider,
  deliveryId: delivery.deliveryId,
  event: delivery.event,
  status: delivery.ciStatus,
  ...(delivery.sha ? { sha: delivery.sha } : {}),
  ...(delivery.url ? { url: delivery.url } : {}),
});

async function completeWaitingSteps(deps: EngineDeps, projectId: string, delivery: DeliveryDetail, report: ReactionReport): Promise<void> {
  let payload: unknown;
  const loadPayload = async () => (payload ??= await deps.artifacts.loadOutput(delivery.payloadRef));
  const { payloadRef: _ref, ...normalized } = delivery;
  for (const key of correlationKeys(delivery)) {
    for (const wait of await deps.store.webhookWaits(projectId, key)) {
      const { run, step } = await deps.store.getRunAndStep(wait.runId, wait.stepId);
      if (run && step?.status === 'needs_qa') {
        const output = { delivery: normalized, payload: await loadPayload() };
        const effects = await completeStep(deps, run, step, { status: 'completed', output }, { actor: `webhook:${delivery.provider}`, transition: 'approve' });
        if (effects) {
          await applyEffects(deps, effects);
          report.completedSteps.push(`${run.id}/${step.stepId}`);
        }
      }
      await deps.store.forgetWebhookWait(projectId, key, wait.runId, wait.stepId);
    }
  }
}

/**
 * Completes a run before its steps are done (its branch was merged): every step not yet
 * running or finished is skipped, each with its event, and then the run completes. A step
 * already running finishes on its own; what it would release is skipped, so nothing new starts.
 * Steps go first, so an interruption leaves a run that is still open and a retry finishes the
 * job. Returns false when the run was already final (nothing to do).
 */
export async function completeRunEarly(deps: EngineDeps, run: RunRecord, actor: string, { reason, detail }: { reason: string; detail: Record<string, unknown> }): Promise<boolean> {
  const at = deps.clock();
  const skippable: readonly string[] = stepTransitions.skip.from;
  const open = (await deps.store.listSteps(run.id)).filter((step) => skippable.includes(step.status));
  const events: CommittedEvent[] = [];
  try {
    for (let start = 0; start < open.length; start += stepsPerWrite) {
      const chunk = open.slice(start, start + stepsPerWrite).map((step) => ({ stepId: step.stepId, readStatus: step.status, event: runEvent(run, 'step.skipped', actor, { from: step.status, reason }, at, step.stepId) }));
      const written = await deps.store.skip(run.id, chunk, at.toISOString());
      // A step that moved meanwhile (started, approved) fails the whole chunk: the caller's
      // retry lists the steps again and goes on from where they are.
      if (!written.won) throw new ConflictError(`run ${run.id}: a step moved while the run was being completed; try again`);
      events.push(...written.events);
    }
    const completed = runEvent(run, 'run.completed', actor, { totalSteps: run.totalSteps, skipped: open.length, ...detail }, at);
    const written = await deps.store.completeRunEarly(run.id, at.toISOString(), reason, completed);
    if (!written.won) return false;
    deps.metrics.add('RunsCompleted', undefined);
    events.push(...written.events);
    return true;
  } finally {
    await applyEffects(deps, { dispatches: [], events });
  }
}
