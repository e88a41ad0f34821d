import { createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { signGeneric } from '#shared/domain/webhook-signatures';
import { engineClient, type EngineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { postDelivery, setWebhookSecret, workflowRunBody } from '../helpers/webhooks';

beforeEach(resetData);

const githubDeliveryOf = (client: EngineClient, body: string, headers: Record<string, string>) => postDelivery('github', client.projectId, body, { 'x-github-event': 'workflow_run', ...headers });

const workflowRun = (branch: string, conclusion: string) => workflowRunBody('acme/app', branch, conclusion);

describe('webhooks on the deployed stack', () => {
  it('completes a waiting webhook step with a signed GitHub delivery (repository matched without regard to case); forged and replayed ones change nothing', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    const workflowId = await client.workflow({
      name: 'ci-gate',
      steps: [
        // GitHub sends `acme/app`; the workflow's author wrote it as the repository page shows it.
        { id: 'wait-ci', kind: 'webhook', input: { provider: 'github', repository: 'Acme/App', branch: 'main' } },
        { id: 'deploy', kind: 'noop', dependsOn: ['wait-ci'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'wait-ci', ['needs_qa']);
    const body = workflowRun('main', 'success');
    const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

    const forged = await githubDeliveryOf(client, body, { 'x-github-delivery': 'd-forged', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    const otherBody = workflowRun('feature', 'success');
    const otherBranch = await githubDeliveryOf(client, otherBody, { 'x-github-delivery': 'd-other', 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(otherBody).digest('hex')}` });
    // A delivery for another branch is handled (its reactions ran) without touching this step.
    await client.waitForDeliveryHandled('github', 'd-other');
    const stillWaiting = await client.step(id, 'wait-ci');
    const accepted = await githubDeliveryOf(client, body, { 'x-github-delivery': 'd-1', 'x-hub-signature-256': signature });
    const replayed = await githubDeliveryOf(client, body, { 'x-github-delivery': 'd-1', 'x-hub-signature-256': signature });
    const run = await client.waitFor(id, ['completed', 'blocked']);

    expect(forged.status).toBe(401);
    expect(forged.body.error?.code).toBe('invalid_signature');
    expect(otherBranch.status).toBe(202);
    expect(stillWaiting.status).toBe('needs_qa');
    expect(accepted.status).toBe(202);
    expect(replayed.status).toBe(200);
    expect(replayed.body.duplicate).toBe(true);
    expect(run.status).toBe('completed');
    const completions = (await client.events(id)).filter((event) => event.type === 'step.completed' && event.stepId === 'wait-ci');
    expect(completions).toHaveLength(1);
    expect(completions[0]?.actor).toBe('webhook:github');
    expect((await client.step(id, 'wait-ci')).output).toMatchObject({ delivery: { provider: 'github', repository: 'acme/app', branch: 'main', ciStatus: 'success' } });
  });

  it('accepts the previous secret during a rotation, and refuses an unknown project', async () => {
    const client = await engineClient();
    const first = await setWebhookSecret(client, 'github', 'first-secret-0123456789');
    const second = await setWebhookSecret(client, 'github');
    const body = workflowRun('main', 'failure');
    const signedWith = (secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

    const withOld = await githubDeliveryOf(client, body, { 'x-github-delivery': 'r-1', 'x-hub-signature-256': signedWith(first.secret) });
    const withNew = await githubDeliveryOf(client, body, { 'x-github-delivery': 'r-2', 'x-hub-signature-256': signedWith(second.secret) });
    const unknown = await postDelivery('github', 'prj_00000000000000000000000000', body, { 'x-github-delivery': 'r-3', 'x-hub-signature-256': signedWith(second.secret) });

    expect(second.previousStillValid).toBe(true);
    expect(withOld.status).toBe(202);
    expect(withNew.status).toBe(202);
    expect(unknown.status).toBe(404);
  });

  it('routes a generic signed delivery by key, and a GitLab token delivery by repository', async () => {
    const client = await engineClient();
    const generic = await setWebhookSecret(client, 'generic');
    const gitlab = await setWebhookSecret(client, 'gitlab', 'gitlab-shared-token-123');
    const workflowId = await client.workflow({
      name: 'signals',
      steps: [
        { id: 'by-key', kind: 'webhook', input: { key: 'order-42' } },
        { id: 'by-repo', kind: 'webhook', input: { provider: 'gitlab', repository: 'group/project' } },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'by-key', ['needs_qa']);
    await client.waitForStep(id, 'by-repo', ['needs_qa']);
    const genericBody = JSON.stringify({ event: 'order.paid', key: 'order-42' });
    const gitlabBody = JSON.stringify({ object_kind: 'pipeline', project: { path_with_namespace: 'group/project' }, object_attributes: { ref: 'main', status: 'success' } });

    const stale = await postDelivery('generic', client.projectId, genericBody, { 'x-baton-delivery': 'g-0', 'x-baton-signature': signGeneric(genericBody, generic.secret, new Date(Date.now() - 3_600_000)) });
    const signed = await postDelivery('generic', client.projectId, genericBody, { 'x-baton-delivery': 'g-1', 'x-baton-signature': signGeneric(genericBody, generic.secret) });
    const fromGitlab = await postDelivery('gitlab', client.projectId, gitlabBody, { 'x-gitlab-event-uuid': 'gl-1', 'x-gitlab-token': gitlab.secret });
    const run = await client.waitFor(id, ['completed', 'blocked']);

    expect(stale.status).toBe(401);
    expect(signed.status).toBe(202);
    expect(fromGitlab.status).toBe(202);
    expect(run.status).toBe('completed');
  });
});
