import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { correlationKeys } from '#shared/domain/webhook-deliveries';
import { signGeneric } from '#shared/domain/webhook-signatures';
import { webhookCorrelationKey } from '#shared/executors/webhook';
import { webhookProvider, webhookProviderNames } from '#shared/webhook-providers/registry';

const github = webhookProvider('github');
const gitlab = webhookProvider('gitlab');
const generic = webhookProvider('generic');

describe('webhook provider registry', () => {
  it('names every provider, and each answers to its own name', () => {
    expect(webhookProviderNames).toEqual(['github', 'gitlab', 'generic']);
    for (const name of webhookProviderNames) expect(webhookProvider(name).name).toBe(name);
  });

  it('reads each provider’s delivery id from its own header', () => {
    expect(github.deliveryId({ 'x-github-delivery': 'gh-1', 'x-baton-delivery': 'no' })).toBe('gh-1');
    expect(gitlab.deliveryId({ 'webhook-id': 'msg_1', 'x-gitlab-event-uuid': 'uuid' })).toBe('msg_1');
    expect(gitlab.deliveryId({ 'x-gitlab-event-uuid': 'uuid' })).toBe('uuid');
    expect(generic.deliveryId({ 'x-baton-delivery': 'g-1' })).toBe('g-1');
    expect(generic.deliveryId({ 'x-github-delivery': 'gh-1' })).toBeUndefined();
  });

  it('verifies each provider’s signature on the raw body and says why one fails', () => {
    const body = Buffer.from('{"zen":"hi"}');
    const hub = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;

    expect(github.verify(body, { 'x-hub-signature-256': hub }, ['s3cret'])).toEqual({ ok: true });
    expect(github.verify(body, { 'x-hub-signature-256': hub }, ['other'])).toEqual({ ok: false, reason: 'bad or missing X-Hub-Signature-256' });
    expect(gitlab.verify(body, { 'x-gitlab-token': 's3cret' }, ['s3cret'])).toEqual({ ok: true });
    expect(gitlab.verify(body, { 'webhook-signature': 'v1,AAAA', 'webhook-id': 'm', 'webhook-timestamp': '1' }, ['s3cret'])).toEqual({ ok: false, reason: 'signed form: stale' });
    expect(generic.verify(body, { 'x-baton-signature': signGeneric(body.toString(), 's3cret') }, ['s3cret'])).toEqual({ ok: true });
    expect(generic.verify(body, {}, ['s3cret'])).toEqual({ ok: false, reason: 'X-Baton-Signature: missing' });
  });
});

describe('webhook deliveries, normalized', () => {
  it('reads a GitHub workflow_run and a merged pull request', () => {
    const run = github.normalize({
      deliveryId: 'd1',
      headers: { 'x-github-event': 'workflow_run' },
      payload: { workflow_run: { head_branch: 'main', head_sha: 'abc', conclusion: 'failure', html_url: 'https://ci/1' }, repository: { full_name: 'acme/app' } },
    });
    const merged = github.normalize({
      deliveryId: 'd2',
      headers: { 'x-github-event': 'pull_request' },
      payload: { action: 'closed', pull_request: { number: 7, merged: true, head: { ref: 'feat', sha: 'def' } }, repository: { full_name: 'acme/app' } },
    });

    expect(run).toEqual({ provider: 'github', deliveryId: 'd1', event: 'workflow_run', repository: 'acme/app', branch: 'main', sha: 'abc', ciStatus: 'failure', url: 'https://ci/1' });
    expect(merged).toMatchObject({ pullRequest: 7, merged: true, branch: 'feat' });
  });

  it('reads a GitLab pipeline and merge request', () => {
    const pipeline = { object_kind: 'pipeline', project: { path_with_namespace: 'grp/prj' }, object_attributes: { ref: 'main', status: 'success' } };
    const mergeRequest = { object_kind: 'merge_request', project: { path_with_namespace: 'grp/prj' }, object_attributes: { iid: 3, state: 'merged', source_branch: 'x' } };

    expect(gitlab.normalize({ deliveryId: 'g1', headers: {}, payload: pipeline })).toMatchObject({ repository: 'grp/prj', branch: 'main', ciStatus: 'success' });
    expect(gitlab.normalize({ deliveryId: 'g2', headers: {}, payload: mergeRequest })).toMatchObject({ pullRequest: 3, merged: true, branch: 'x' });
  });

  it('files waiting steps under the keys deliveries satisfy', () => {
    const delivery = github.normalize({ deliveryId: 'd', headers: { 'x-github-event': 'push' }, payload: { ref: 'refs/heads/main', repository: { full_name: 'acme/app' } } });

    expect(correlationKeys(delivery)).toEqual(['github:acme/app:main', 'github:acme/app:*']);
    expect(correlationKeys(delivery)).toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app', branch: 'main' }));
    expect(correlationKeys(delivery)).toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app' }));
    expect(correlationKeys(generic.normalize({ deliveryId: 'x', headers: {}, payload: { key: 'order-1' } }))).toEqual(['key:order-1']);
    expect(webhookCorrelationKey({ key: 'order-1' })).toBe('key:order-1');
  });

  it('matches a repository without regard to case, but a branch with it', () => {
    const delivery = github.normalize({ deliveryId: 'd', headers: { 'x-github-event': 'push' }, payload: { ref: 'refs/heads/Main', repository: { full_name: 'Acme/App' } } });
    const keys = correlationKeys(delivery);

    expect(keys).toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app', branch: 'Main' }));
    expect(keys).toContain(webhookCorrelationKey({ provider: 'github', repository: 'ACME/APP' }));
    expect(keys).not.toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app', branch: 'main' }));
  });
});
