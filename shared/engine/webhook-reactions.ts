import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { finalRunStatuses } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { correlationKeys, type NormalizedDelivery } from '#shared/domain/webhook-deliveries';
import type { ProjectSettings } from '#shared/schemas/projects';
import { branchRunsPrefix, keys, webhookWaitPrefix } from '#shared/store/keys';
import { queryPrefix } from '#shared/store/query';
import type { RunRecord } from '#shared/store/runs';
import { ConditionFailedError } from '#shared/store/transaction';
import type { EngineDeps } from './context';
import type { DeliveryDetail } from './webhook-deliveries';
import { completeRunEarly } from './run-actions';
import { applyEffects, completeStep, failStep, type Effects } from './step-transitions';

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
}

export interface ReactionDeps {
  engine: EngineDeps;
  /** The project's settings, or undefined when the project is gone. */
  settingsOf: (projectId: string) => Promise<ProjectSettings | undefined>;
}

/**
 * Everything a `webhook.received` event causes, each part idempotent (conditional transitions,
 * waits deleted after use), so an event delivered twice changes nothing the second time:
 * 1. the runs mapped to the delivery's branch react to it, per the project's settings:
 *    CI success approves their waiting approval gates, CI failure fails them with the CI's URL
 *    (`autoQaOnCi`), a merged PR/MR completes them (`completeRunOnMerge`);
 * 2. the `webhook` steps waiting for one of its correlation keys complete with it as output.
 * Run reactions go first, so a test (or a user) who sees a correlated step complete knows the
 * run reactions to the same delivery are done.
 */
export async function reactToDelivery({ engine, settingsOf }: ReactionDeps, event: LifecycleEvent): Promise<ReactionReport> {
  const delivery = event.detail as unknown as DeliveryDetail;
  const report: ReactionReport = { completedSteps: [], approvedGates: [], failedGates: [], completedRuns: [] };
  const settings = await settingsOf(event.projectId);
  if (!settings) return report;
  await reactOnBranch(engine, event.projectId, settings, delivery, report);
  await completeWaitingSteps(engine, event.projectId, delivery, report);
  await recordHandled(engine, event.projectId, delivery, report);
  return report;
}

/** Marks the delivery's record with what it did: when it was handled shows it was (ops, tests). */
async function recordHandled(deps: EngineDeps, projectId: string, delivery: NormalizedDelivery, report: ReactionReport): Promise<void> {
  const at = (deps.now ?? (() => new Date()))().toISOString();
  await deps.documents
    .send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: keys.delivery(projectId, delivery.provider, delivery.deliveryId),
        UpdateExpression: 'SET handledAt = :at, reactions = :report',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': at, ':report': report },
      }),
    )
    .catch((error: unknown) => {
      // Past its dedupe TTL already (a very late redelivery of the event): nothing to mark.
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    });
}

async function reactOnBranch(deps: EngineDeps, projectId: string, settings: ProjectSettings, delivery: NormalizedDelivery, report: ReactionReport): Promise<void> {
  if (!delivery.repository || !delivery.branch) return;
  const ci = settings.autoQaOnCi && (delivery.ciStatus === 'success' || delivery.ciStatus === 'failure') ? delivery.ciStatus : undefined;
  const merge = settings.completeRunOnMerge && delivery.merged === true;
  if (!ci && !merge) return;
  const actor = `webhook:${delivery.provider}`;
  for (const mapping of await queryProject(deps, projectId, branchRunsPrefix(delivery.repository, delivery.branch))) {
    const run = await deps.runs.getRun(mapping.runId as string, true);
    if (!run || finalRunStatuses.includes(run.status)) {
      // A finished run reacts to nothing more: drop its mapping now rather than at its TTL.
      await deleteItem(deps, mapping);
      continue;
    }
    if (merge) {
      if (await completeRunEarly(deps, run, actor, { reason: `${delivery.branch} was merged`, detail: mergeDetail(delivery) })) report.completedRuns.push(run.id);
      await deleteItem(deps, mapping);
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
  const gates = (await deps.runs.listSteps(run.id)).filter((step) => step.kind === 'approval' && step.status === 'needs_qa');
  for (const gate of gates) {
    let effects: Effects;
    try {
      effects =
        ci === 'success'
          ? await completeStep(deps, run, gate, { status: 'completed', output: { approvedBy: actor, ci: ciSummary(delivery) } }, { actor, from: 'needs_qa' })
          : await failStep(
              deps,
              run,
              gate,
              new NonRetryableStepError(`CI failed on ${delivery.branch}${delivery.url ? `: ${delivery.url}` : ''}`, { code: 'CI_FAILED', ...(delivery.url ? { url: delivery.url } : {}) }),
              { actor, from: ['needs_qa'] },
            );
    } catch (error) {
      // Approved, rejected or timed out meanwhile: the first decision stands.
      if (error instanceof ConditionFailedError) continue;
      throw error;
    }
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
    for (const wait of await queryProject(deps, projectId, webhookWaitPrefix(key))) {
      const { run, step } = await deps.runs.getRunAndStep(wait.runId as string, wait.stepId as string);
      if (run && step?.status === 'needs_qa') {
        try {
          const output = { delivery: normalized, payload: await loadPayload() };
          await applyEffects(deps, await completeStep(deps, run, step, { status: 'completed', output }, { actor: `webhook:${delivery.provider}`, from: 'needs_qa' }));
          report.completedSteps.push(`${run.id}/${step.stepId}`);
        } catch (error) {
          if (!(error instanceof ConditionFailedError)) throw error;
        }
      }
      await deleteItem(deps, wait);
    }
  }
}

const queryProject = (deps: EngineDeps, projectId: string, prefix: string) => queryPrefix(deps.documents, deps.tableName, `PROJECT#${projectId}`, prefix);

const deleteItem = (deps: EngineDeps, item: Record<string, unknown>) =>
  deps.documents.send(new DeleteCommand({ TableName: deps.tableName, Key: { pk: item.pk as string, sk: item.sk as string } }));
