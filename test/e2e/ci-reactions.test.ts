import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { engineClient, type EngineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { githubDelivery, githubSignature, setWebhookSecret, workflowRunBody } from '../helpers/webhooks';

beforeEach(resetData);

const gated: SaveWorkflowBody = { name: 'protocol', steps: [{ id: 'build', kind: 'noop' }, { id: 'qa', kind: 'approval', dependsOn: ['build'] }, { id: 'deploy', kind: 'noop', dependsOn: ['qa'] }] };

async function setSettings(client: EngineClient, settings: { autoQaOnCi?: boolean; completeRunOnMerge?: boolean }) {
  await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: settings }));
}

/** A run of the gated workflow on a branch of acme/app, waiting at its QA gate. */
async function runAtGate(client: EngineClient, workflowId: string, branch: string) {
  const { id } = await client.run(workflowId, { git: { repository: 'acme/app', branch } });
  await client.waitForStep(id, 'qa', ['needs_qa']);
  return id;
}

const checkSuite = (branch: string, conclusion: string) =>
  JSON.stringify({ action: 'completed', check_suite: { head_branch: branch, head_sha: 'f00d', conclusion, url: 'https://api.github.com/repos/acme/app/check-suites/9' }, repository: { full_name: 'Acme/App' } });

describe('CI reactions on runs mapped to a branch', () => {
  it('approves the gate of the run on the branch when CI succeeds; forged, replayed and other-branch deliveries change nothing', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    await setSettings(client, { autoQaOnCi: true });
    const workflowId = await client.workflow(gated);
    const mapped = await runAtGate(client, workflowId, 'feat/login');
    const other = await runAtGate(client, workflowId, 'feat/other');
    const body = checkSuite('feat/login', 'success');

    const forged = await githubDelivery(client, 'check_suite', 'cs-forged', body, githubSignature('not-the-secret-at-all', body));
    const accepted = await githubDelivery(client, 'check_suite', 'cs-1', body, githubSignature(secret, body));
    const replayed = await githubDelivery(client, 'check_suite', 'cs-1', body, githubSignature(secret, body));
    const reactions = await client.waitForDeliveryHandled('github', 'cs-1');
    const run = await client.waitFor(mapped, ['completed', 'blocked']);

    expect(forged.status).toBe(401);
    expect(accepted.status).toBe(202);
    expect(replayed.status).toBe(200);
    expect(replayed.body.duplicate).toBe(true);
    expect(reactions.approvedGates).toEqual([`${mapped}/qa`]);
    expect(run.status).toBe('completed');
    expect((await client.step(mapped, 'qa')).output).toMatchObject({ approvedBy: 'webhook:github', ci: { status: 'success', deliveryId: 'cs-1', sha: 'f00d' } });
    expect((await client.events(mapped)).filter((event) => event.type === 'step.completed' && event.stepId === 'qa')).toHaveLength(1);
    expect((await client.step(other, 'qa')).status).toBe('needs_qa');
    expect(await client.deliveryRecord('github', 'cs-forged')).toBeUndefined();
  });

  it('fails the gate with the CI URL when CI fails, and blocks the run', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    await setSettings(client, { autoQaOnCi: true });
    const id = await runAtGate(client, await client.workflow(gated), 'fix/crash');
    const body = workflowRunBody('acme/app', 'fix/crash', 'failure', 'https://github.com/acme/app/actions/runs/42');

    const response = await githubDelivery(client, 'workflow_run', 'wr-1', body, githubSignature(secret, body));
    const run = await client.waitFor(id, ['blocked', 'completed']);
    const gate = await client.step(id, 'qa');

    expect(response.status).toBe(202);
    expect(run.status).toBe('blocked');
    expect(gate.status).toBe('failed');
    expect(gate.error).toMatchObject({ code: 'CI_FAILED', retryable: false });
    expect(gate.error?.message).toContain('https://github.com/acme/app/actions/runs/42');
    expect((await client.step(id, 'deploy')).status).toBe('pending');
  });

  it('leaves the gate to a person when the project has not enabled auto-QA on CI', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    const id = await runAtGate(client, await client.workflow(gated), 'main');
    const body = workflowRunBody('acme/app', 'main', 'success');

    await githubDelivery(client, 'workflow_run', 'wr-off', body, githubSignature(secret, body));
    const reactions = await client.waitForDeliveryHandled('github', 'wr-off');

    expect(reactions.approvedGates).toEqual([]);
    expect((await client.step(id, 'qa')).status).toBe('needs_qa');
  });

  it('completes the run when its pull request is merged, skipping the steps left', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    await setSettings(client, { completeRunOnMerge: true });
    const id = await runAtGate(client, await client.workflow(gated), 'feat/merge-me');
    const closedUnmerged = JSON.stringify({ action: 'closed', pull_request: { number: 6, merged: false, head: { ref: 'feat/merge-me' } }, repository: { full_name: 'acme/app' } });
    const merged = JSON.stringify({ action: 'closed', pull_request: { number: 7, merged: true, head: { ref: 'feat/merge-me', sha: 'beef' }, html_url: 'https://github.com/acme/app/pull/7' }, repository: { full_name: 'acme/app' } });

    await githubDelivery(client, 'pull_request', 'pr-closed', closedUnmerged, githubSignature(secret, closedUnmerged));
    const notMerged = await client.waitForDeliveryHandled('github', 'pr-closed');
    const stillOpen = await client.getRun(id);
    await githubDelivery(client, 'pull_request', 'pr-merged', merged, githubSignature(secret, merged));
    const reactions = await client.waitForDeliveryHandled('github', 'pr-merged');
    const run = await client.waitFor(id, ['completed']);
    const events = await client.events(id);

    expect(notMerged.completedRuns).toEqual([]);
    expect(stillOpen.status).toBe('running');
    expect(reactions.completedRuns).toEqual([id]);
    expect(run.reason).toBe('feat/merge-me was merged');
    expect((await client.step(id, 'build')).status).toBe('completed');
    expect((await client.step(id, 'qa')).status).toBe('skipped');
    expect((await client.step(id, 'deploy')).status).toBe('skipped');
    expect(events.find((event) => event.type === 'run.completed')?.detail).toMatchObject({ by: 'merge', pullRequest: 7, url: 'https://github.com/acme/app/pull/7', skipped: 2 });
  });

  it('refuses a malformed branch mapping with 400 naming the field', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow(gated);

    const refused = await client.run(workflowId, { git: { repository: 'acme/app', branch: 'has space' } }).catch((error: unknown) => error);

    expect(refused).toMatchObject({ status: 400, field: 'body.git.branch' });
  });
});
