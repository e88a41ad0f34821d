import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId } from '#shared/domain/ids';
import type { NormalizedDelivery } from '#shared/domain/webhook-deliveries';
import type { EngineDeps } from './context';

const deliveryTtlSeconds = 7 * 24 * 3600;

/** The detail of a `webhook.received` event: the normalized delivery and where its body is kept. */
export type DeliveryDetail = NormalizedDelivery & { payloadRef: string };

/**
 * Records a verified delivery once (deduplicated by its delivery id, with its event in the same
 * transaction) and publishes `webhook.received`. What the delivery does (completing `webhook`
 * steps, CI reactions on mapped runs) happens in the reactions function that event reaches
 * through a bus rule: the event is in the outbox, so the reactions run even if this request
 * dies after its commit (the sender would only ever see a duplicate on a retry).
 * Returns undefined for a duplicate: it changes nothing.
 */
export async function acceptDelivery(deps: EngineDeps, projectId: string, delivery: NormalizedDelivery, raw: Buffer) {
  const at = deps.clock();
  const payloadRef = await deps.artifacts.storeDeliveryPayload(projectId, delivery.provider, delivery.deliveryId, raw);
  const detail: DeliveryDetail = { ...delivery, payloadRef };
  const event: LifecycleEvent = { id: newEventId(), type: 'webhook.received', projectId, at: at.toISOString(), actor: `webhook:${delivery.provider}`, detail: { ...detail } };
  const recorded = await deps.store.recordDelivery(
    { projectId, provider: delivery.provider, deliveryId: delivery.deliveryId, receivedAt: at.toISOString(), expiresAt: Math.floor(at.getTime() / 1000) + deliveryTtlSeconds },
    { event, publish: true },
  );
  if (!recorded.won) return undefined;
  await deps.outbox.publish(recorded.events);
  return { eventId: event.id };
}
