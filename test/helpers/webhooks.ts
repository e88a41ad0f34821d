import { createHmac } from 'node:crypto';
import { unwrap } from '#sdk';
import type { EngineClient } from './engine';
import { stack } from './stack';

/** Sets (or generates) the project's webhook secret for a provider; returns it as shown once. */
export const setWebhookSecret = (client: EngineClient, provider: 'github' | 'gitlab' | 'generic', secret?: string) =>
  unwrap(client.baton.PUT('/v1/projects/{projectId}/webhook-secrets/{provider}', { params: { path: { projectId: client.projectId, provider } }, body: secret ? { secret } : {} }));

export const githubSignature = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export interface DeliveryResponse {
  deliveryId: string;
  duplicate?: boolean;
  eventId?: string;
  error?: { code: string };
}

/**
 * Posts a delivery as the provider does. Raw fetch: the signature covers the exact bytes of the
 * body and the provider's own headers, and webhook routes are called by providers, not through
 * the SDK.
 */
export async function postDelivery(provider: string, projectId: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: DeliveryResponse }> {
  const response = await fetch(`${stack.apiUrl}/v1/webhooks/${provider}/${projectId}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as DeliveryResponse };
}

/** Posts a GitHub delivery as GitHub does: event name, delivery id and signature headers. */
export const githubDelivery = (client: EngineClient, event: string, deliveryId: string, body: string, signature: string) =>
  postDelivery('github', client.projectId, body, { 'x-github-event': event, 'x-github-delivery': deliveryId, 'x-hub-signature-256': signature });

export const workflowRunBody = (repository: string, branch: string, conclusion: string, url = 'https://ci.example/runs/1') =>
  JSON.stringify({ action: 'completed', workflow_run: { head_branch: branch, head_sha: 'abc123', conclusion, html_url: url }, repository: { full_name: repository } });
