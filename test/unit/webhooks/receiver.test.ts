import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { EngineDeps } from '#shared/engine/context';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import { createWebhookReceiver, webhookRefusedMetric } from '#functions/webhooks/receiver';
import { fakeProjectStore, silentLogger } from '../../helpers/fakes';
import { recordedMetrics } from '../../helpers/recorded-metrics';

const event = (path: string, body: string, headers: Record<string, string>): APIGatewayProxyEventV2 =>
  ({
    rawPath: path,
    body,
    isBase64Encoded: false,
    headers,
    requestContext: { http: { sourceIp: '203.0.113.9' } },
  }) as unknown as APIGatewayProxyEventV2;

async function setup() {
  const projects = fakeProjectStore();
  const { project } = await projects.create({ name: 'hooks', actor: 'test' });
  const secrets = { valid: async () => ['the-project-secret-123'] } as unknown as WebhookSecretStore;
  // A refused delivery must not reach the engine at all: any use of it fails the test.
  const engine = new Proxy({}, { get: () => { throw new Error('the engine was used'); } }) as EngineDeps;
  const metrics = recordedMetrics();
  const receive = createWebhookReceiver({ engine, projects, secrets, logger: silentLogger(), metrics: metrics.recorder });
  return { receive, project, emitted: metrics.points };
}

describe('webhook receiver security events', () => {
  it('counts a bad signature as WebhookRefused by reason (never the project), and answers 401 without touching the engine', async () => {
    const { receive, project, emitted } = await setup();
    const body = '{"zen":"hi"}';
    const forged = `sha256=${createHmac('sha256', 'someone-else').update(body).digest('hex')}`;

    await expect(receive(event(`/v1/webhooks/github/${project.id}`, body, { 'x-github-delivery': 'd1', 'x-hub-signature-256': forged }))).rejects.toMatchObject({ status: 401, code: 'invalid_signature' });

    expect(emitted).toEqual([{ name: webhookRefusedMetric, dimensions: { reason: 'webhook_signature_refused' }, value: 1 }]);
  });

  it('counts a delivery to an unknown project, answered 404', async () => {
    const { receive, emitted } = await setup();

    await expect(receive(event('/v1/webhooks/gitlab/prj_00000000000000000000000000', '{}', { 'x-gitlab-token': 'x' }))).rejects.toMatchObject({ status: 404 });

    expect(emitted).toEqual([{ name: webhookRefusedMetric, dimensions: { reason: 'webhook_unknown_project' }, value: 1 }]);
  });
});
