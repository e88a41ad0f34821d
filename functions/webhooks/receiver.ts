import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { ApiError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { normalizeGeneric, normalizeGithub, normalizeGitlab, webhookProviders, type NormalizedDelivery, type WebhookProvider } from '#shared/domain/webhook-deliveries';
import { verifyGenericSignature, verifyGithubSignature, verifyGitlabToken, verifySignedDelivery } from '#shared/domain/webhook-signatures';
import type { EngineDeps } from '#shared/engine/context';
import { acceptDelivery } from '#shared/engine/webhook-deliveries';
import { json, parseWith, type HttpResult } from '#shared/middleware/http';
import { projectIdParam } from '#shared/schemas/projects';
import type { ProjectStore } from '#shared/store/projects';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';

class SignatureError extends ApiError {
  override name = 'SignatureError';
  constructor(reason: string) {
    super(401, 'invalid_signature', `The delivery is not signed with this project's webhook secret (${reason})`);
  }
}

const deliveryIdOf = (provider: WebhookProvider, headers: Record<string, string | undefined>): string | undefined =>
  provider === 'github' ? headers['x-github-delivery'] : provider === 'gitlab' ? (headers['webhook-id'] ?? headers['x-gitlab-event-uuid']) : headers['x-baton-delivery'];

/** The metric every refused delivery counts in (namespace Baton, dimensions service and provider). */
export const webhookRefusedMetric = 'WebhookRefused';

/**
 * `POST /v1/webhooks/{provider}/{projectId}`: verify the signature on the raw body (nothing is
 * written before it passes), deduplicate by delivery id, normalize, record and publish; the
 * reactions run from the published event. A bad signature (401) or an unknown project (404)
 * changes nothing and is a security event: logged, and counted in `WebhookRefused`.
 */
export const createWebhookReceiver =
  ({ engine, projects, secrets, logger, metrics }: { engine: EngineDeps; projects: ProjectStore; secrets: WebhookSecretStore; logger: Logger; metrics: Metrics }) =>
  async (event: APIGatewayProxyEventV2): Promise<HttpResult> => {
    const [, , , fromPathProvider, fromPathProject] = event.rawPath.split('/');
    const provider = event.pathParameters?.provider ?? fromPathProvider;
    const projectId = event.pathParameters?.projectId ?? fromPathProject;
    const parsedProvider = parseWith(z.enum(webhookProviders), provider, 'path.provider');
    const parsedProject = parseWith(projectIdParam, projectId, 'path.projectId');
    const securityEvent = (kind: 'webhook_unknown_project' | 'webhook_signature_refused', reason: string) => {
      logger.warn('security: webhook refused', { securityEvent: kind, provider: parsedProvider, projectId: parsedProject, reason, sourceIp: event.requestContext.http.sourceIp });
      const metric = metrics.singleMetric();
      metric.addDimension('provider', parsedProvider);
      metric.addDimension('reason', kind);
      metric.addMetric(webhookRefusedMetric, MetricUnit.Count, 1);
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
    const verdict = verify(parsedProvider, raw, headers, valid);
    if (verdict !== 'ok') throw refuse(verdict);

    const deliveryId = deliveryIdOf(parsedProvider, headers);
    if (!deliveryId || deliveryId.length > 200) throw new ValidationError('header: the delivery id header is missing', 'header.delivery-id');
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ValidationError('body: not valid JSON', 'body');
    }
    const delivery: NormalizedDelivery =
      parsedProvider === 'github'
        ? normalizeGithub(deliveryId, headers['x-github-event'] ?? 'unknown', payload)
        : parsedProvider === 'gitlab'
          ? normalizeGitlab(deliveryId, payload)
          : normalizeGeneric(deliveryId, payload);
    const accepted = await acceptDelivery(engine, parsedProject, delivery, raw);
    if (!accepted) return json(200, { deliveryId, duplicate: true });
    return json(202, { deliveryId, event: delivery.event, eventId: accepted.eventId });
  };

/** 'ok', or why the delivery's signature does not hold. */
function verify(provider: WebhookProvider, raw: Buffer, headers: Record<string, string | undefined>, secrets: string[]): string {
  if (provider === 'github') return verifyGithubSignature(raw, headers['x-hub-signature-256'], secrets) ? 'ok' : 'bad or missing X-Hub-Signature-256';
  if (provider === 'gitlab') {
    if (headers['webhook-signature']) {
      const check = verifySignedDelivery(raw, { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] }, secrets);
      return check.ok ? 'ok' : `signed form: ${check.reason}`;
    }
    return verifyGitlabToken(headers['x-gitlab-token'], secrets) ? 'ok' : 'bad or missing X-Gitlab-Token';
  }
  const check = verifyGenericSignature(raw, headers['x-baton-signature'], secrets);
  return check.ok ? 'ok' : `X-Baton-Signature: ${check.reason}`;
}
