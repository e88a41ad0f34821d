import { z } from 'zod';
import { repositoryKey } from '#shared/domain/webhook-deliveries';
import { webhookProviderNames } from '#shared/webhook-providers/registry';
import type { Executor } from '#shared/executors/types';

export const webhookInput = z
  .strictObject({
    /** A sender-chosen key (generic deliveries carry it as `key`). */
    key: z.string().min(1).max(200).optional(),
    provider: z.enum(webhookProviderNames).optional(),
    /** `owner/name` (GitHub) or `group/project` (GitLab), matched without regard to case. */
    repository: z.string().min(1).max(200).optional(),
    /** Any branch when absent. */
    branch: z.string().min(1).max(200).optional(),
  })
  .refine((input) => Boolean(input.key) !== Boolean(input.repository), { message: 'give either key, or repository (with provider and branch)' });
export type WebhookInput = z.infer<typeof webhookInput>;

/** The correlation key a waiting `webhook` step is filed under (see correlationKeys): the repository in lower case. */
export const webhookCorrelationKey = (input: WebhookInput): string =>
  input.key ? `key:${input.key}` : `${input.provider ?? 'github'}:${repositoryKey(input.repository ?? '')}:${input.branch ?? '*'}`;

/**
 * `webhook`: waits (in needs_qa, filed under its correlation key) until a verified delivery
 * that matches arrives; the delivery, normalized, becomes the step's output.
 */
export const webhookExecutor: Executor<WebhookInput> = {
  kind: 'webhook',
  input: webhookInput,
  ignoresDependencyOutputs: true,
  async run(input) {
    return { status: 'waiting', reason: `webhook ${webhookCorrelationKey(input)}` };
  },
};
