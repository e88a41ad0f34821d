import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import { api } from './api';
import type { EngineClient } from './engine';

/** Sets (or generates) the project's webhook secret for a provider; returns it as shown once. */
export async function setWebhookSecret(client: EngineClient, provider: string, secret?: string) {
  const response = await api<{ secret: string; previousStillValid: boolean }>('PUT', `/v1/projects/${client.project.id}/webhook-secrets/${provider}`, {
    token: client.token,
    body: secret ? { secret } : {},
  });
  expect(response.status).toBe(200);
  return response.body;
}

export const githubSignature = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export interface DeliveryResponse {
  deliveryId: string;
  duplicate?: boolean;
  eventId?: string;
  error?: { code: string };
}

/** Posts a GitHub delivery as GitHub does: event name, delivery id and signature headers. */
export const githubDelivery = (client: EngineClient, event: string, deliveryId: string, body: string, signature: string) =>
  api<DeliveryResponse>('POST', `/v1/webhooks/github/${client.project.id}`, {
    body,
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': deliveryId, 'x-hub-signature-256': signature },
  });

export const workflowRunBody = (repository: string, branch: string, conclusion: string, url = 'https://ci.example/runs/1') =>
  JSON.stringify({ action: 'completed', workflow_run: { head_branch: branch, head_sha: 'abc123', conclusion, html_url: url }, repository: { full_name: repository } });
