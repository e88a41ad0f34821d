import { QueryCommand, DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId } from '#shared/domain/ids';
import { correlationKeys, type NormalizedDelivery } from '#shared/domain/webhook-deliveries';
import { keys, webhookWaitPrefix } from '#shared/store/keys';
import { ConditionFailedError } from '#shared/store/transaction';
import { transaction, type EngineDeps } from './context';
import { applyEffects, completeStep } from './step-transitions';

const deliveryTtlSeconds = 7 * 24 * 3600;

/**
 * Records a verified delivery once (deduplicated by its delivery id, with its event in the same
 * transaction), publishes `webhook.received`, and completes the `webhook` steps waiting for it.
 * Returns undefined for a duplicate: it changes nothing.
 */
export async function acceptDelivery(deps: EngineDeps, projectId: string, delivery: NormalizedDelivery, payload: unknown) {
  const at = (deps.now ?? (() => new Date()))();
  const event: LifecycleEvent = { id: newEventId(), type: 'webhook.received', projectId, at: at.toISOString(), actor: `webhook:${delivery.provider}`, detail: { ...delivery } };
  const eventKey = keys.projectEvent(projectId, event.id);
  const tx = transaction(deps);
  tx.put(
    { ...keys.delivery(projectId, delivery.provider, delivery.deliveryId), type: 'delivery', receivedAt: at.toISOString(), expiresAt: Math.floor(at.getTime() / 1000) + deliveryTtlSeconds },
    'attribute_not_exists(pk)',
  );
  tx.event(eventKey, event);
  let events;
  try {
    events = await tx.commit();
  } catch (error) {
    if (error instanceof ConditionFailedError) return undefined;
    throw error;
  }
  await deps.outbox.publish(events);
  const completed = await completeWaitingSteps(deps, projectId, delivery, payload);
  return { eventId: event.id, completedSteps: completed };
}

async function completeWaitingSteps(deps: EngineDeps, projectId: string, delivery: NormalizedDelivery, payload: unknown): Promise<string[]> {
  const completed: string[] = [];
  for (const key of correlationKeys(delivery)) {
    const { Items } = await deps.documents.send(
      new QueryCommand({
        TableName: deps.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `PROJECT#${projectId}`, ':prefix': webhookWaitPrefix(key) },
      }),
    );
    for (const wait of Items ?? []) {
      const { run, step } = await deps.runs.getRunAndStep(wait.runId as string, wait.stepId as string);
      if (run && step?.status === 'needs_qa') {
        try {
          await applyEffects(deps, await completeStep(deps, run, step, { status: 'completed', output: { delivery, payload } }, { actor: `webhook:${delivery.provider}`, from: 'needs_qa' }));
          completed.push(`${run.id}/${step.stepId}`);
        } catch (error) {
          if (!(error instanceof ConditionFailedError)) throw error;
        }
      }
      await deps.documents.send(new DeleteCommand({ TableName: deps.tableName, Key: { pk: wait.pk as string, sk: wait.sk as string } }));
    }
  }
  return completed;
}
