import { branchOf, ciStatusOf, compactDelivery, numberIn, objectIn, textIn } from '#shared/domain/webhook-deliveries';
import { verifyGithubSignature } from '#shared/domain/webhook-signatures';
import type { WebhookProvider } from './types';

/**
 * GitHub: `X-GitHub-Delivery` ids, `X-Hub-Signature-256` HMACs; workflow_run, check_suite, push
 * and pull_request events.
 */
export const githubProvider: WebhookProvider<'github'> = {
  name: 'github',
  deliveryId: (headers) => headers['x-github-delivery'],
  verify: (raw, headers, secrets) => (verifyGithubSignature(raw, headers['x-hub-signature-256'], secrets) ? { ok: true } : { ok: false, reason: 'bad or missing X-Hub-Signature-256' }),
  normalize({ deliveryId, headers, payload: body }) {
    const event = headers['x-github-event'] ?? 'unknown';
    const payload = objectIn(body);
    const run = objectIn(payload.workflow_run);
    const suite = objectIn(payload.check_suite);
    const pr = objectIn(payload.pull_request);
    return compactDelivery({
      provider: 'github',
      deliveryId,
      event,
      repository: textIn(objectIn(payload.repository).full_name),
      branch: textIn(run.head_branch) ?? textIn(suite.head_branch) ?? textIn(objectIn(pr.head).ref) ?? branchOf(payload.ref),
      sha: textIn(run.head_sha) ?? textIn(suite.head_sha) ?? textIn(objectIn(pr.head).sha) ?? textIn(payload.after),
      pullRequest: numberIn(pr.number),
      ciStatus: ciStatusOf(run.conclusion ?? suite.conclusion),
      merged: event === 'pull_request' ? payload.action === 'closed' && pr.merged === true : undefined,
      action: textIn(payload.action),
      url: textIn(run.html_url) ?? textIn(suite.url) ?? textIn(pr.html_url),
    });
  },
};
