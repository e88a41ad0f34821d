import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { ApiError, NotFoundError, ValidationError } from '#shared/domain/errors';
import type { MetricsRecorder } from '#shared/domain/metrics';
import type { EngineDeps } from '#shared/engine/context';
import { acceptDelivery } from '#shared/engine/webhook-deliveries';
import { json, parseWith, type HttpResult } from '#shared/middleware/http';
import { projectIdParam } from '#shared/schemas/projects';
import type { ProjectStore } from '#shared/store/projects';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import { webhookProvider, webhookProviderNames } from '#shared/webhook-providers/registry';

class SignatureError extends ApiError {
  override name = 'SignatureError';
  constructor(reason: string) {
    super(401, 'invalid_signature', `The delivery is not signed with this project's webhook secret (${reason})`);
  }
}

/** The metric every refused delivery counts in (shared/domain/metrics.ts: dimension reason). */
export const webhookRefusedMetric = 'WebhookRefused';

/**
 * `POST /v1/webhooks/{provider}/{projectId}`: the provider (from `shared/webhook-providers/`)
 * verifies the signature on the raw body (nothing is written before it passes), names the
 * delivery id to deduplicate by and normalizes the payload; then it is recorded and published; the
 * reactions run from the published event. A bad signature (401) or an unknown project (404)
 * changes nothing and is a security event: logged, and counted in `WebhookRefused`; an accepted
 * delivery (a duplicate too) counts in `WebhooksAccepted`.
 */
export const createWebhookReceiver =
  ({ engine, projects, secrets, logger, metrics }: { engine: EngineDeps; projects: ProjectStore; secrets: WebhookSecretStore; logger: Logger; metrics: MetricsRecorder }) =>
  async (event: APIGatewayProxyEventV2): Promise<HttpResult> => {
    const [, , , fromPathProvider, fromPathProject] = event.rawPath.split('/');
    const provider = event.pathParameters?.provider ?? fromPathProvider;
    const projectId = event.pathParameters?.projectId ?? fromPathProject;
    const parsedProvider = parseWith(z.enum(webhookProviderNames), provider, 'path.provider');
    const plugin = webhookProvider(parsedProvider);
    const parsedProject = parseWith(projectIdParam, projectId, 'path.projectId');
    const securityEvent = (kind: 'webhook_unknown_project' | 'webhook_signature_refused', reason: string) => {
      logger.warn('security: webhook refused', { securityEvent: kind, provider: parsedProvider, projectId: parsedProject, reason, sourceIp: event.requestContext.http.sourceIp });
      metrics.add(webhookRefusedMetric, { reason: kind });
    };
    if (!(await projects.get(parsedProject))) {
      securityEvent('webhook_unknown_project', 'no such project');
      throw new NotFoundError('Project');
    }
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64') : Buffer.from(event.body ?? '', 'utf8');
    const headers = event.headers;
    const valid = await secrets.valid(parsedProject, parsedProvider);
    const refuse = (reason: string) => {
      securityEvent('webhook_signature_refused', reason);
      return new SignatureError(reason);
    };
    if (valid.length === 0) throw refuse('no webhook secret is configured for this provider');
    const verdict = plugin.verify(raw, headers, valid);
    if (!verdict.ok) throw refuse(verdict.reason);

    const deliveryId = plugin.deliveryId(headers);
    if (!deliveryId || deliveryId.length > 200) throw new ValidationError('header: the delivery id header is missing', 'header.delivery-id');
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ValidationError('body: not valid JSON', 'body');
    }
    const delivery = plugin.normalize({ deliveryId, headers, payload });
    const accepted = await acceptDelivery(engine, parsedProject, delivery, raw);
    metrics.add('WebhooksAccepted', { provider: parsedProvider });
    if (!accepted) return json(200, { deliveryId, duplicate: true });
    return json(202, { deliveryId, event: delivery.event, eventId: accepted.eventId });
  };
