import { requestHash } from '#shared/domain/canonical-json';
import { matchesDelivery, triggerIdempotencyKey, triggeredInput } from '#shared/domain/triggers';
import type { TriggerRecord } from '#shared/store/triggers';
import type { WorkflowStore } from '#shared/store/workflows';
import type { EngineDeps } from './context';
import { createRun } from './create-run';
import type { DeliveryDetail } from './webhook-deliveries';

/** What starting runs from triggers reads: the project's triggers and its workflows. */
export interface TriggerStartDeps extends EngineDeps {
  workflows: Pick<WorkflowStore, 'get'>;
  triggers: {
    read(projectId: string, triggerId: string): Promise<TriggerRecord | undefined>;
    list(projectId: string): Promise<TriggerRecord[]>;
  };
}

export type TriggeredStart = { runId: string; created: boolean } | { skipped: 'paused' | 'deleted' | 'workflow not found' | 'input too large' };

/** A run's input is stored with the run: what the API accepts as a run's input at most. */
const maxInputBytes = 64 * 1024;

/**
 * Starts the run a trigger makes of one event: the event (or the trigger's mapping of it) as its
 * input, `trigger:<triggerId>:<event id>` as its idempotency key, so a redelivered event finds
 * the run the first delivery made and starts no second one. A paused trigger, or one whose
 * workflow is gone, starts nothing; the reason is logged and returned.
 */
export async function startTriggeredRun(deps: TriggerStartDeps, trigger: TriggerRecord, eventId: string, event: unknown): Promise<TriggeredStart> {
  if (trigger.state !== 'ENABLED') return { skipped: 'paused' };
  const workflow = await deps.workflows.get(trigger.projectId, trigger.workflowId, trigger.version);
  if (!workflow) {
    deps.logger.error('triggered workflow is gone', { projectId: trigger.projectId, triggerId: trigger.id, workflowId: trigger.workflowId, version: trigger.version });
    return { skipped: 'workflow not found' };
  }
  const input = triggeredInput(trigger.input, event);
  const bytes = new TextEncoder().encode(JSON.stringify(input ?? null)).byteLength;
  if (bytes > maxInputBytes) {
    // Retrying cannot shrink it: logged (without the event) and dropped; a mapping picks less.
    deps.logger.error('triggered run input too large', { projectId: trigger.projectId, triggerId: trigger.id, eventId, bytes, maxInputBytes });
    return { skipped: 'input too large' };
  }
  const { run, created } = await createRun(deps, {
    projectId: trigger.projectId,
    workflow,
    ...(input !== undefined ? { input } : {}),
    idempotencyKey: triggerIdempotencyKey(trigger.id, eventId),
    // Every redelivery of one event is the same request (and an API call borrowing the key is not).
    requestHash: requestHash({ triggerId: trigger.id, eventId }),
    actor: `trigger:${trigger.id}`,
    start: true,
  });
  deps.logger.info('triggered run', { triggerId: trigger.id, eventId, runId: run.id, created });
  return { runId: run.id, created };
}

/**
 * One EventBridge event that matched an `eventbridge` trigger's rule: the trigger is read again
 * (the rule may fire while the trigger is being paused or deleted), and the event, as the rule
 * delivered it, becomes the run's input.
 */
export async function startFromEvent(deps: TriggerStartDeps, { projectId, triggerId, event }: { projectId: string; triggerId: string; event: { id: string } & Record<string, unknown> }): Promise<TriggeredStart> {
  const trigger = await deps.triggers.read(projectId, triggerId);
  if (!trigger || trigger.source.type !== 'eventbridge') return { skipped: 'deleted' };
  return startTriggeredRun(deps, trigger, event.id, event);
}

/**
 * The runs a verified webhook delivery starts: one per enabled `webhook` trigger of the project
 * that matches it (provider, event type, filter). The event a run gets is what a `webhook` step
 * completes with: `{delivery, payload}`. Returns the runs' ids (new or found again).
 */
export async function startFromDelivery(deps: TriggerStartDeps, projectId: string, delivery: DeliveryDetail): Promise<string[]> {
  const matching = (await deps.triggers.list(projectId)).filter((trigger) => trigger.state === 'ENABLED' && trigger.source.type === 'webhook' && matchesDelivery(trigger.source, delivery));
  if (matching.length === 0) return [];
  const { payloadRef, ...normalized } = delivery;
  const event = { delivery: normalized, payload: await deps.artifacts.loadOutput(payloadRef) };
  const started: string[] = [];
  for (const trigger of matching) {
    const result = await startTriggeredRun(deps, trigger, delivery.deliveryId, event);
    if ('runId' in result) started.push(result.runId);
  }
  return started;
}
