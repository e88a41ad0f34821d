import { describe, expect, it } from 'vitest';
import { correlationKeys, normalizeGeneric, normalizeGithub, normalizeGitlab } from '#shared/domain/webhook-deliveries';
import { webhookCorrelationKey } from '#shared/executors/webhook';

describe('webhook deliveries', () => {
  it('reads a GitHub workflow_run and a merged pull request', () => {
    const run = normalizeGithub('d1', 'workflow_run', {
      workflow_run: { head_branch: 'main', head_sha: 'abc', conclusion: 'failure', html_url: 'https://ci/1' },
      repository: { full_name: 'acme/app' },
    });
    const merged = normalizeGithub('d2', 'pull_request', { action: 'closed', pull_request: { number: 7, merged: true, head: { ref: 'feat', sha: 'def' } }, repository: { full_name: 'acme/app' } });

    expect(run).toEqual({ provider: 'github', deliveryId: 'd1', event: 'workflow_run', repository: 'acme/app', branch: 'main', sha: 'abc', ciStatus: 'failure', url: 'https://ci/1' });
    expect(merged).toMatchObject({ pullRequest: 7, merged: true, branch: 'feat' });
  });

  it('reads a GitLab pipeline and merge request', () => {
    expect(normalizeGitlab('g1', { object_kind: 'pipeline', project: { path_with_namespace: 'grp/prj' }, object_attributes: { ref: 'main', status: 'success' } })).toMatchObject({
      repository: 'grp/prj',
      branch: 'main',
      ciStatus: 'success',
    });
    expect(normalizeGitlab('g2', { object_kind: 'merge_request', project: { path_with_namespace: 'grp/prj' }, object_attributes: { iid: 3, state: 'merged', source_branch: 'x' } })).toMatchObject({
      pullRequest: 3,
      merged: true,
      branch: 'x',
    });
  });

  it('files waiting steps under the keys deliveries satisfy', () => {
    const delivery = normalizeGithub('d', 'push', { ref: 'refs/heads/main', repository: { full_name: 'acme/app' } });

    expect(correlationKeys(delivery)).toEqual(['github:acme/app:main', 'github:acme/app:*']);
    expect(correlationKeys(delivery)).toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app', branch: 'main' }));
    expect(correlationKeys(delivery)).toContain(webhookCorrelationKey({ provider: 'github', repository: 'acme/app' }));
    expect(correlationKeys(normalizeGeneric('x', { key: 'order-1' }))).toEqual(['key:order-1']);
    expect(webhookCorrelationKey({ key: 'order-1' })).toBe('key:order-1');
  });
});
