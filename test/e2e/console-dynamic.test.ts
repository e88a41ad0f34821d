import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { nodeStatuses, openBrowser, openHash, screenshotPath, signIn, type ConsoleBrowser } from '../helpers/browser';
import { engineClient, type EngineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The console's faces of issue 13 (dynamic work): steps a planner added, in a real browser
 * against the deployed stack.
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
});
