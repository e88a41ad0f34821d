import { z } from 'zod';
import { jsonPathPattern } from '#shared/domain/triggers';
import { text } from '#shared/domain/text';
import { webhookProviderNames } from '#shared/webhook-providers/registry';
import { maxWorkflowVersion, workflowIdParam } from './runs';

export const triggerIdParam = z.string().regex(/^trg_[0-9a-z]{26}$/, 'must be a trigger id (trg_…)');
export const triggerActionParam = z.enum(['pause', 'resume']);

const filterValue = text(1, 200);

/** A verified delivery of this provider (and event type), passing the filter on its normalized fields. */
export const webhookTriggerSource = z
  .strictObject({
    type: z.literal('webhook'),
    provider: z.enum(webhookProviderNames),
    /** The provider's event type (`push`, `pull_request`, `workflow_run`; GitLab `push`, `merge_request`…); any when absent. */
    event: text(1, 100).optional(),
    filter: z.strictObject({ repository: filterValue.optional(), branch: filterValue.optional(), action: filterValue.optional() }).optional(),
  })
  .meta({ id: 'WebhookTriggerSource' });

/**
 * An EventBridge event pattern, as EventBridge reads it (`{"source": ["acme.orders"], "detail": {…}}`):
 * an object of at most 4 KB with at least one field. EventBridge has the last word on the rest
 * (its refusal is a 400 naming `body.source.pattern`).
 */
export const eventPattern = z
  .record(z.string().min(1).max(256), z.unknown())
  .refine((pattern) => Object.keys(pattern).length > 0, 'must match on at least one field')
  .refine((pattern) => new TextEncoder().encode(JSON.stringify(pattern)).byteLength <= 4096, 'must be at most 4 KB of JSON');

/** An event on the stage's trigger bus matching the pattern. */
export const eventBridgeTriggerSource = z.strictObject({ type: z.literal('eventbridge'), pattern: eventPattern }).meta({ id: 'EventBridgeTriggerSource' });

export const triggerSource = z.discriminatedUnion('type', [webhookTriggerSource, eventBridgeTriggerSource]);

const jsonPath = z.string().max(300).regex(jsonPathPattern, "must be a JSONPath such as $.detail.id or $['detail-type'] (keys and indexes only)");

/** The run's input: the whole event, or an object of values picked from it by JSONPath. */
export const triggerInput = z.union([
  z.strictObject({ from: z.literal('event') }),
  z.strictObject({ mapping: z.record(z.string().min(1).max(100), jsonPath).refine((mapping) => Object.keys(mapping).length <= 50, 'must have at most 50 keys') }),
]);

export const createTriggerBody = z.strictObject({
  name: text(1, 100).optional(),
  workflowId: workflowIdParam,
  /** The version to start; the latest at the time of each event when absent. */
  version: z.number().int().min(1).max(maxWorkflowVersion).optional(),
  source: triggerSource,
  input: triggerInput.optional(),
});
export type CreateTriggerBody = z.infer<typeof createTriggerBody>;
