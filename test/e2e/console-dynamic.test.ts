import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { nodeStatuses, openBrowser, openHash, screenshotPath, signIn, type ConsoleBrowser } from '../helpers/browser';
import { engineClient, type EngineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The console's faces of issue 13 (dynamic work and triggers): steps a planner added, the
 * Triggers page, in a real browser against the deployed stack.
 */
const testAgent = useTestAgent({ beforeAll, afterAll });
let client: EngineClient;
let browser: ConsoleBrowser;
let page: Page;

const poll = { timeout: 30_000, interval: 250 };

beforeAll(async () => {
  await resetData();
  client = await engineClient('console-dynamic');
  browser = await openBrowser();
  page = browser.page;
  await signIn(page, client.token);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe('the console showing dynamic work', () => {
  it("draws the steps a planner added, dashed and linked to their planner, and says so in the run's history", async () => {
    const plan = [
      { id: 'research', kind: 'noop' },
      { id: 'outline', kind: 'noop', dependsOn: ['research'] },
      { id: 'draft-a', kind: 'noop', dependsOn: ['outline'] },
      { id: 'draft-b', kind: 'noop', dependsOn: ['outline'] },
      { id: 'merge', kind: 'noop', dependsOn: ['draft-a', 'draft-b'] },
    ];
    const workflowId = await client.workflow({
      name: 'planned-report',
      steps: [
        { id: 'planner', kind: 'http', input: { url: `${testAgent().url}/data`, body: { plan: { steps: plan } } } },
        { id: 'publish', kind: 'noop', dependsOn: ['planner'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed']);
    await openHash(page, `/runs/${id}`);

    // Seven nodes: the planner, its five steps, and publish rewired behind the plan's exit.
    await expect.poll(() => nodeStatuses(page), poll).toEqual(Object.fromEntries(['planner', 'publish', ...plan.map((step) => step.id)].map((stepId) => [stepId, 'completed'])));
    const planned = await Promise.all((await page.locator('[data-testid="dag"] [data-planned-by="planner"]').all()).map((node) => node.getAttribute('data-step-id')));
    expect(planned.sort()).toEqual(plan.map((step) => step.id).sort());
    expect(await page.locator('[data-testid="dag"] .dag-node.planned').count()).toBe(5);
    expect(await page.locator('[data-testid="dag"] [data-step-id="merge"] title').textContent()).toBe('merge (noop): completed, added by planner');
    // publish now depends on merge: an edge from merge to publish.
    const steps = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    expect(steps.items.find((step) => step.id === 'publish')?.dependsOn).toEqual(['merge']);
    expect(await page.getByTestId('planned-steps').textContent()).toBe('5 steps added by the planner planner');
    const history = page.locator('[data-testid="event-log"] tr[data-event-type="run.planned"]');
    await expect.poll(() => history.getByTestId('run-planned').textContent(), poll).toBe('planner added 5 steps (research, outline, draft-a … merge); publish now waits for merge');
    await page.screenshot({ path: screenshotPath('run-planned.png'), fullPage: true });

    await page.locator('[data-testid="dag"] [data-step-id="draft-b"]').click();
    await expect.poll(() => page.getByTestId('step-planned-by').textContent(), poll).toBe('Added to the run by the planner step planner.');
    // The legend's link opens the planner.
    await page.getByTestId('planned-steps').getByRole('button', { name: 'planner' }).click();
    await expect.poll(() => page.getByTestId('step-drawer').locator('h2').textContent(), poll).toBe('planner');
  });

  it('lists, creates, pauses, resumes and deletes triggers on the Triggers page; a bad pattern is refused before anything is saved', async () => {
    const workflowId = await client.workflow({ name: 'on-push', steps: [{ id: 'build', kind: 'noop' }] });
    const triggers = async () => (await unwrap(client.baton.GET('/v1/projects/{projectId}/triggers', { params: { path: { projectId: client.projectId } } }))).items;
    await page.locator('nav').getByRole('link', { name: 'Triggers' }).click();
    await expect.poll(() => page.getByText('No triggers yet.').count(), poll).toBe(1);

    // From a webhook: GitHub pushes to acme/app's main.
    const form = page.getByRole('form', { name: 'Create a trigger' });
    await form.locator('input[name="triggerName"]').fill('build main');
    await form.locator('select[name="workflowId"]').selectOption(workflowId);
    await form.locator('input[name="repository"]').fill('acme/app');
    await form.locator('input[name="branch"]').fill('main');
    await form.getByRole('button', { name: 'Create trigger' }).click();
    await expect.poll(() => form.getByRole('status').textContent(), poll).toMatch(/^Created trigger trg_[0-9a-z]{26}\.$/);
    const [webhook] = await triggers();
    expect(webhook).toMatchObject({ name: 'build main', workflowId, state: 'ENABLED', source: { type: 'webhook', provider: 'github', event: 'push', filter: { repository: 'acme/app', branch: 'main' } } });
    const row = page.locator(`[data-testid="triggers"] tr[data-trigger-id="${webhook!.id}"]`);
    await expect.poll(() => row.getByTestId('trigger-source').textContent(), poll).toBe('github push · acme/app · branch main');
    expect(await row.locator('td').nth(1).textContent()).toBe('on-push');
    expect(await row.locator('.badge').textContent()).toBe('enabled');

    // From EventBridge, with an input mapping; a pattern that is not JSON is refused in the form.
    await form.locator('input[name="triggerName"]').fill('orders');
    await form.locator('select[name="sourceType"]').selectOption('eventbridge');
    await form.locator('textarea[name="pattern"]').fill('{"source": ["acme.orders"');
    await form.getByRole('button', { name: 'Create trigger' }).click();
    await expect.poll(() => form.getByRole('alert').textContent(), poll).toBe('The event pattern is not valid JSON');
    expect(await triggers()).toHaveLength(1);
    await form.locator('textarea[name="pattern"]').fill('{"source": ["acme.orders"], "detail-type": ["order.placed"]}');
    await form.locator('textarea[name="mapping"]').fill('{"orderId": "$.detail.orderId"}');
    await form.getByRole('button', { name: 'Create trigger' }).click();
    await expect.poll(async () => (await triggers()).length, poll).toBe(2);
    const events = (await triggers()).find((trigger) => trigger.name === 'orders')!;
    expect(events).toMatchObject({ state: 'ENABLED', source: { type: 'eventbridge', pattern: { source: ['acme.orders'] } }, input: { mapping: { orderId: '$.detail.orderId' } } });
    const eventsRow = page.locator(`[data-testid="triggers"] tr[data-trigger-id="${events.id}"]`);
    await expect.poll(() => eventsRow.getByTestId('trigger-source').textContent(), poll).toMatch(/^EventBridge \{"source":\["acme\.orders"\],"detail-type":\["order\.placed"\]\}rule \S+ on bus \S+$/);
    expect(await eventsRow.locator('td').nth(3).textContent()).toBe('orderId ← $.detail.orderId');
    await page.screenshot({ path: screenshotPath('triggers.png'), fullPage: true });

    // Pause, resume, delete.
    await row.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => row.getAttribute('data-state'), poll).toBe('DISABLED');
    expect(await row.locator('.badge').textContent()).toBe('paused');
    expect((await triggers()).find((trigger) => trigger.id === webhook!.id)?.state).toBe('DISABLED');
    await row.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => row.getAttribute('data-state'), poll).toBe('ENABLED');
    page.once('dialog', (dialog) => void dialog.accept());
    await eventsRow.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => eventsRow.count(), poll).toBe(0);
    expect((await triggers()).map((trigger) => trigger.id)).toEqual([webhook!.id]);
  });
});
