import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { nodeStatuses, openBrowser, openHash, screenshotPath, signIn, type ConsoleBrowser } from '../helpers/browser';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient } from '../helpers/engine';
import { installationToken } from '../helpers/projects';
import { stack } from '../helpers/stack';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The console's faces of issue 13 (dynamic work and triggers): steps a planner added, the
 * Triggers page, map steps (progress, children paged, retry of the failed items), a big run
 * listed a page at a time, loop iterations and sub-workflow links, in a real browser against
 * the deployed stack.
 */
const testAgent = useTestAgent({ beforeAll, afterAll });
let client: EngineClient;
let browser: ConsoleBrowser;
let page: Page;

const poll = { timeout: 30_000, interval: 250 };

/** One attribute of every element a locator finds, in document order. */
const attributes = async (locator: Locator, name: string) => Promise.all((await locator.all()).map((element) => element.getAttribute(name)));

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

  it("shows a map's progress and its children a page at a time; a map over its tolerance says so and Retry runs the failed items", async () => {
    const key = `map-${Date.now()}`;
    const failing = [3, 17];
    const items = Array.from({ length: 30 }, (_, index) => ({ url: failing.includes(index) ? `${testAgent().url}/flaky/${key}-${index}?failures=1&status=500` : `${testAgent().url}/ok` }));
    const workflowId = await client.workflow({
      name: 'fan-out',
      steps: [
        { id: 'fan', kind: 'map', input: { items, maxConcurrency: 10, toleratedFailurePercentage: 0, step: { kind: 'http', input: { url: '{{item.url}}' }, retry: { maxAttempts: 1 } } } },
        { id: 'after', kind: 'noop', dependsOn: ['fan'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['blocked', 'completed'], 120_000);
    await openHash(page, `/runs/${id}`);

    // The map blocked the run: said at the top with what Retry does; its children are not drawn as nodes.
    await expect.poll(() => page.getByTestId('map-blocked').textContent(), poll).toMatch(/^MAP_TOLERANCE_EXCEEDED The map step fan blocked the run: 2 of 30 items failed \(6\.67%\), more than the 0% tolerated\s*Retry runs the failed items only/);
    expect(await nodeStatuses(page)).toEqual({ fan: 'failed', after: 'pending' });
    // Said once: not again as the run's generic reason (whose retry hint is about whole steps).
    expect(await page.getByTestId('run-reason').count()).toBe(0);
    const progress = page.locator('[data-testid="map-progress"][data-step-id="fan"]');
    await expect.poll(() => progress.getByTestId('map-counts').textContent(), poll).toBe('30 of 30 done: 28 succeeded, 2 failed, 0 queued or running');
    // The Steps card counts the run's own two steps, and the map's items beside them.
    expect(await page.getByTestId('step-counts').textContent()).toBe('pending 1failed 1');
    expect(await page.getByTestId('map-item-counts').textContent()).toBe('and 30 map items: 30 done (28 succeeded, 2 failed)');

    // The drawer pages the children: 25, then the last 5; the failed ones with their error.
    await progress.getByRole('button', { name: 'fan' }).click();
    const children = page.getByTestId('map-children');
    await expect.poll(() => children.locator('tbody tr').count(), poll).toBe(25);
    expect(await children.getByTestId('map-children-range').textContent()).toBe('items 0–24 of 30');
    expect(await attributes(children.locator('tbody tr[data-status="failed"]'), 'data-index')).toEqual(failing.map(String));
    expect(await children.locator('tbody tr[data-index="3"] .child-error').textContent()).toMatch(/flaky failure 1/);
    expect(await children.getByTestId('map-results').textContent()).toMatch(/^Results \(JSON Lines, in item order\): s3:\/\/\S+/);
    // An s3:// address is for copying: no link a browser cannot open.
    expect(await children.getByTestId('map-results').locator('a').count()).toBe(0);
    await page.screenshot({ path: screenshotPath('map-blocked.png'), fullPage: true });
    await children.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => children.getByTestId('map-children-range').textContent(), poll).toBe('items 25–29 of 30');
    expect(await attributes(children.locator('tbody tr'), 'data-index')).toEqual(['25', '26', '27', '28', '29']);
    expect(await children.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);
    await children.getByRole('button', { name: 'Previous' }).click();
    await expect.poll(() => children.getByTestId('map-children-range').textContent(), poll).toBe('items 0–24 of 30');

    // Retry: only the two failed items run again (round 2), and the run completes.
    await page.getByTestId('map-blocked').getByRole('button', { name: 'Retry the failed items' }).click();
    await client.waitFor(id, ['completed'], 120_000);
    await expect.poll(() => nodeStatuses(page), { ...poll, timeout: 60_000 }).toEqual({ fan: 'completed', after: 'completed' });
    await expect.poll(() => progress.getByTestId('map-counts').textContent(), poll).toBe('30 of 30 done: 30 succeeded, 0 failed, 0 queued or running (round 2)');
    await expect.poll(() => page.getByTestId('map-item-counts').textContent(), poll).toBe('and 30 map items: 30 done (30 succeeded, 0 failed)');
    expect(await page.getByTestId('map-blocked').count()).toBe(0);
    // The drawer keeps the first round's error, said as past now that the map completed.
    await expect.poll(() => page.getByTestId('step-error').textContent(), poll).toMatch(/^An earlier attempt failed: MAP_TOLERANCE_EXCEEDED: 2 of 30 items failed/);
    const { items: all } = await unwrap(client.baton.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId: id, stepId: 'fan' }, query: { limit: 100 } } }));
    expect(all.filter((child) => child.attempt === 2).map((child) => child.index)).toEqual(failing);
    await page.screenshot({ path: screenshotPath('map-retried.png'), fullPage: true });
  }, 300_000);

  it('lists a 2,100-step run a page at a time instead of drawing it, and opens a step from the list', async () => {
    const count = 2100;
    const name = (index: number) => `s${String(index).padStart(4, '0')}`;
    const workflowId = await client.workflow({ name: 'big', steps: Array.from({ length: count }, (_, index) => ({ id: name(index), kind: 'noop', ...(index ? { dependsOn: [name(index - 1)] } : {}) })) });
    const { id } = await client.run(workflowId, { start: false });
    const opened = Date.now();
    await openHash(page, `/runs/${id}`);
    const list = page.getByTestId('step-pages');
    await expect.poll(() => list.locator('tbody tr').count(), { ...poll, timeout: 20_000 }).toBe(100);
    const renderMs = Date.now() - opened;
    console.log(`a ${count}-step run's page listed its first 100 steps ${renderMs} ms after it was opened`);
    expect(await list.getByTestId('big-run-note').textContent()).toMatch(/^2,100 steps: too many to draw/);
    expect(await page.locator('[data-testid="dag"]').count()).toBe(0);
    // Created without starting: the page says so rather than timing it.
    expect(await page.locator('main p.muted', { hasText: 'created ' }).first().textContent()).toMatch(/^created .* · not started yet$/);
    expect(await list.locator('tbody tr').first().getAttribute('data-step-id')).toBe('s0000');
    expect(await list.getByTestId('step-range').textContent()).toBe('steps 1–100');
    await list.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => list.getByTestId('step-range').textContent(), poll).toBe('steps 101–200');
    expect(await list.locator('tbody tr').first().getAttribute('data-step-id')).toBe('s0100');
    await page.screenshot({ path: screenshotPath('big-run.png'), fullPage: true });
    await list.locator('tbody tr[data-step-id="s0150"]').click();
    await expect.poll(() => page.getByTestId('step-drawer').locator('h2').textContent(), poll).toBe('s0150');
    // The heading shows at once, the step's detail once read.
    await expect.poll(() => page.getByTestId('step-drawer').textContent(), poll).toContain('depends on s0149');
  }, 120_000);

  it("shows a loop step's iteration and each earlier iteration's output", async () => {
    const workflowId = await client.workflow({
      name: 'count-up',
      steps: [
        { id: 'count', kind: 'http', input: { url: `${testAgent().url}/flaky/loop-${Date.now()}?failures=0` }, loop: { over: ['count'], until: { path: 'attempts', greaterThanOrEqual: 3 }, maxIterations: 5 } },
        { id: 'done', kind: 'noop', dependsOn: ['count'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed'], 120_000);
    await openHash(page, `/runs/${id}`);
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ count: 'completed', done: 'completed' });
    expect(await page.locator('[data-testid="dag"] [data-step-id="count"] title').textContent()).toBe('count (http): completed (loop iteration 3)');
    await page.locator('[data-testid="dag"] [data-step-id="count"]').click();
    const loop = page.getByTestId('loop-iterations');
    await expect.poll(() => loop.getByTestId('loop-iteration').textContent(), poll).toBe('Completed in iteration 3; 2 earlier iterations did not meet its condition.');
    const rows = await loop.locator('tbody tr').all();
    expect(await Promise.all(rows.map(async (row) => [await row.getAttribute('data-iteration'), await row.locator('pre').textContent()]))).toEqual([
      ['1', '{"attempts":1}'],
      ['2', '{"attempts":2}'],
    ]);
    expect(await page.getByTestId('step-output').textContent()).toContain('"attempts": 3');
    // Each iteration was an attempt that completed (step.iterated ends it), drawn inside the timeline.
    expect(await Promise.all((await page.getByTestId('step-attempts').locator('tr td:nth-child(4)').all()).map((cell) => cell.textContent()))).toEqual(['completed', 'completed', 'completed']);
    const bars = page.locator('[data-testid="timeline"] [data-step-id="count"] .bar[data-attempt]');
    expect(await attributes(bars, 'data-status')).toEqual(['completed', 'completed', 'completed']);
    for (const style of await attributes(bars, 'style')) expect(style).not.toMatch(/left: -/);
    await page.screenshot({ path: screenshotPath('loop.png'), fullPage: true });
  }, 180_000);

  it('links a workflow step to its child run, and the child run back to its parent', async () => {
    const childWorkflow = await client.workflow({ name: 'inner', steps: [{ id: 'inner-step', kind: 'noop' }] });
    const workflowId = await client.workflow({ name: 'outer', steps: [{ id: 'sub', kind: 'workflow', input: { workflowId: childWorkflow, input: { topic: 'otters' } } }, { id: 'after', kind: 'noop', dependsOn: ['sub'] }] });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed'], 120_000);
    // One field links a workflow step to its child: the step detail's childRun (its output names the same run).
    const sub = await client.step(id, 'sub');
    const childRunId = sub.childRun!.runId;
    expect((sub.output as { runId: string }).runId).toBe(childRunId);
    await openHash(page, `/runs/${id}`);
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ sub: 'completed', after: 'completed' });
    await page.locator('[data-testid="dag"] [data-step-id="sub"]').click();
    const link = page.getByTestId('step-child-run');
    await expect.poll(() => link.textContent(), poll).toBe(`Child run ${childRunId}.`);
    await link.getByRole('link', { name: childRunId }).click();
    await expect.poll(() => page.getByTestId('parent-run').textContent(), poll).toBe(`A sub-workflow: started by the workflow step sub of run ${id}`);
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ 'inner-step': 'completed' });
    await page.screenshot({ path: screenshotPath('sub-workflow-child.png'), fullPage: true });
    await page.getByTestId('parent-run').getByRole('link', { name: id }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), poll).toBe('completed');
    expect(await page.locator('h1 .mono').textContent()).toBe(id);
  }, 180_000);

  it("links the project's Prometheus metrics from the runs page and shows them as a scraper reads them", async () => {
    const workflowId = await client.workflow({ name: 'counted', steps: [{ id: 'only', kind: 'noop' }] });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed']);
    await page.locator('nav').getByRole('link', { name: 'Runs' }).click();
    await page.getByTestId('metrics-link').click();
    await expect.poll(() => page.getByTestId('metrics').textContent(), poll).toMatch(/^# HELP baton_runs_total /m);
    expect(await page.getByTestId('metrics').textContent()).toMatch(/^baton_runs_total\{status="completed"\} [1-9][0-9]*$/m);
    expect(await page.getByTestId('metrics-scrape').textContent()).toBe(`curl -H "Authorization: Bearer $TOKEN" ${stack.apiUrl.replace(/\/$/, '')}/v1/projects/${client.projectId}/metrics`);
    // The page belongs to the Runs tab (it is reached from there): that tab is lit.
    expect(await page.locator('nav a.active').allTextContents()).toEqual(['Runs']);
    await page.screenshot({ path: screenshotPath('metrics.png'), fullPage: true });
  });

  it('shows the installation token the queues, peeks a dead letter with its run and step, and redrives it after a confirmation', async () => {
    await aws.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.stepParkedQueueUrl }));
    // Five deliveries kill the worker: the fifth dead-letters the step (the run blocks) and it is parked; the sixth attempt survives.
    const workflowId = await client.workflow({ name: 'poison', steps: [{ id: 'poison', kind: 'crash', input: { crashUntilAttempt: 6 }, retry: { maxAttempts: 20, backoffBaseSeconds: 1, backoffCapSeconds: 10, jitter: 'none' } }] });
    const { id } = await client.run(workflowId);
    expect((await client.waitFor(id, ['blocked', 'completed'], 300_000)).status).toBe('blocked');
    // A project admin has no Queues page.
    expect(await page.locator('nav').getByRole('link', { name: 'Queues' }).count()).toBe(0);

    const installation = await openBrowser();
    try {
      const admin = installation.page;
      await admin.goto(stack.consoleUrl);
      await admin.locator('input[name="token"]').fill(await installationToken());
      await admin.getByRole('button', { name: 'Sign in' }).click();
      const ours = admin.locator(`[data-testid="projects"] li[data-project-id="${client.projectId}"]`);
      await ours.waitFor({ timeout: 20_000 });
      await ours.getByRole('button').click();
      await admin.locator('nav').getByRole('link', { name: 'Queues' }).click();

      const queues = admin.getByTestId('queues');
      await expect.poll(async () => Promise.all((await queues.locator('tbody tr').all()).map((row) => row.getAttribute('data-queue'))), poll).toEqual(['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq']);
      const parked = queues.locator('tr[data-queue="steps-parked"]');
      await expect.poll(() => parked.getByTestId('queue-visible').textContent(), { ...poll, timeout: 60_000 }).toBe('1');
      expect(await queues.locator('tr[data-queue="steps"] button').count()).toBe(0);
      await parked.getByRole('button', { name: 'Peek' }).click();
      const peeked = admin.getByTestId('queue-peek').locator('tbody tr');
      await expect.poll(() => peeked.count(), poll).toBe(1);
      expect(await peeked.locator('td').nth(2).textContent()).toBe('poison');
      // The attempt its message was sent for (counted from 1, like the step's attempts).
      expect(await peeked.locator('td').nth(3).textContent()).toMatch(/^[1-9]\d*$/);
      expect(await peeked.locator('td').nth(4).textContent()).toMatch(/^DEAD_LETTERED: /);
      expect(await peeked.getByRole('link', { name: id }).getAttribute('href')).toBe(`#/runs/${id}`);
      await admin.screenshot({ path: screenshotPath('queues.png'), fullPage: true });

      // Redrive asks first; the step runs again and the run completes.
      let question = '';
      admin.once('dialog', (dialog) => {
        question = dialog.message();
        void dialog.accept();
      });
      await parked.getByRole('button', { name: 'Redrive to steps' }).click();
      await expect.poll(() => parked.getByRole('status').textContent(), poll).toMatch(/^ ?(Moved 1 to steps\.|SQS is moving them to steps)/);
      expect(question).toBe('Move the 1 dead letter of steps-parked back to steps? Their steps run again.');
      expect((await client.waitFor(id, ['completed'], 90_000)).status).toBe('completed');
      await expect.poll(() => parked.getByTestId('queue-visible').textContent(), { ...poll, timeout: 60_000 }).toBe('0');
    } finally {
      await installation.close();
    }
  }, 420_000);
});
