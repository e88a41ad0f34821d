import { writeFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { statePath } from '../../scripts/lib/paths';
import { openBrowser, screenshotPath, signIn, type ConsoleBrowser } from '../helpers/browser';
import { engineClient, type EngineClient } from '../helpers/engine';
import { generatePlanCsv } from '../helpers/plan';
import { batonClient, installationToken } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { eventually } from '../helpers/poll';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The web console in a real browser (Debian's Chromium, headless) against the deployed stack:
 * the console is the bundle the deploy published, talking to the API across origins like on AWS.
 */
const testAgent = useTestAgent({ beforeAll, afterAll });
let client: EngineClient;
let editorToken: string;
let viewerToken: string;
let gateWorkflow: string;
let validateWorkflow: string;
/** The run whose gate the editor approved in the browser (its history names the editor). */
let approvedRun: string;
/** The run the editor gave feedback on, re-ran a step of and forked. */
let sourceRun: string;
let browser: ConsoleBrowser;
let page: Page;

/** How long the page may take to show a change: the console polls with backoff (up to 8 s apart). */
const poll = { timeout: 20_000, interval: 250 };
const noRetries = { maxAttempts: 1, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' as const };

async function createToken(role: 'viewer' | 'editor'): Promise<string> {
  return (await unwrap(client.baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId: client.projectId } }, body: { name: `console-${role}`, role } }))).token;
}

/** The status of every DAG node the page shows, by step id. */
const nodeStatuses = async (target: Page): Promise<Record<string, string | null>> => {
  const nodes = await target.locator('[data-testid="dag"] [data-step-id]').all();
  return Object.fromEntries(await Promise.all(nodes.map(async (node) => [(await node.getAttribute('data-step-id')) ?? '', await node.getAttribute('data-status')] as const)));
};

/** A USD amount as the console's formatUsd writes it. */
const formatUsdLike = (value: number) => `${value < 0 ? '-' : ''}$${Math.abs(value) < 0.01 ? Math.abs(value).toFixed(6) : Math.abs(value).toFixed(4)}`;

/** One attribute of every element a locator finds, in page order. */
const attributes = async (locator: Locator, name: string): Promise<(string | null)[]> => Promise.all((await locator.all()).map((element) => element.getAttribute(name)));

/** What the page.evaluate callbacks below touch in the browser (the test itself is compiled without DOM types). */
interface BrowserGlobals {
  location: { hash: string };
  sessionStorage: { getItem(key: string): string | null };
  localStorage: { length: number };
  document: { cookie: string };
  consoleMark?: number;
}

/** Opens a run's page by changing the URL's hash: the console routes on it, the page is never reloaded. */
const openRun = (target: Page, runId: string) =>
  target.evaluate((hash) => {
    (globalThis as unknown as BrowserGlobals).location.hash = hash;
  }, `#/runs/${runId}`);

/** Opens a workflow's page the same way. */
const openWorkflow = (target: Page, workflowId: string) =>
  target.evaluate((hash) => {
    (globalThis as unknown as BrowserGlobals).location.hash = hash;
  }, `#/workflows/${workflowId}`);

/** Marks the page; a reload would lose the mark. */
const markPage = (target: Page) =>
  target.evaluate(() => {
    (globalThis as unknown as BrowserGlobals).consoleMark = 1;
  });
const pageWasKept = (target: Page) => target.evaluate(() => (globalThis as unknown as BrowserGlobals).consoleMark === 1);

beforeAll(async () => {
  await resetData();
  client = await engineClient('console');
  editorToken = await createToken('editor');
  viewerToken = await createToken('viewer');
  gateWorkflow = await client.workflow({
    name: 'review',
    steps: [
      { id: 'draft', kind: 'noop', input: { text: 'hello' } },
      { id: 'review', kind: 'approval', input: { prompt: 'Is the draft good?' }, dependsOn: ['draft'] },
      { id: 'publish', kind: 'noop', dependsOn: ['review'] },
    ],
  });
  validateWorkflow = await client.workflow({
    name: 'validate',
    steps: [
      { id: 'prepare', kind: 'noop' },
      { id: 'check', kind: 'http', input: { url: `${testAgent().url}/validate`, body: { valid: false } }, dependsOn: ['prepare'], retry: noRetries },
    ],
  });
  browser = await openBrowser();
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe('the web console', () => {
  it('signs in with a token and lists a run started by the test', async () => {
    const run = await client.run(gateWorkflow);

    await signIn(page, editorToken);

    await expect.poll(() => page.getByTestId('role').textContent(), poll).toBe('editor');
    await page.locator(`[data-testid="runs"] tr[data-run-id="${run.id}"]`).waitFor({ timeout: 20_000 });
    expect(await page.locator(`tr[data-run-id="${run.id}"]`).textContent()).toContain('review');
    // The token is kept for the tab only.
    expect(
      await page.evaluate(() => {
        const { sessionStorage, localStorage, document } = globalThis as unknown as BrowserGlobals;
        return [sessionStorage.getItem('baton.token') !== null, localStorage.length, document.cookie];
      }),
    ).toEqual([true, 0, '']);
  });

  it('filters runs by tag through the API\'s run search', async () => {
    const ours = await client.run(gateWorkflow, { tags: { team: 'growth' } });
    const theirs = await client.run(gateWorkflow, { tags: { team: 'infra' } });
    await page.evaluate(() => {
      (globalThis as unknown as BrowserGlobals).location.hash = '#/';
    });
    await page.locator(`tr[data-run-id="${theirs.id}"]`).waitFor({ timeout: 20_000 });

    await page.locator('input[name="tag"]').fill('team=growth');
    await page.getByRole('button', { name: 'Apply' }).click();

    await page.locator(`tr[data-run-id="${ours.id}"]`).waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator(`tr[data-run-id="${theirs.id}"]`).count(), poll).toBe(0);
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator(`tr[data-run-id="${theirs.id}"]`).waitFor({ timeout: 20_000 });
  });

  it('shows a run as a DAG with one node per step and the right statuses, and a timeline', async () => {
    const { id } = await client.run(gateWorkflow);
    await client.waitForStep(id, 'review', ['needs_qa']);

    await page.locator('nav').getByRole('link', { name: 'Runs' }).click();
    await page.locator(`tr[data-run-id="${id}"] a`).click();

    await expect.poll(() => nodeStatuses(page), { timeout: 20_000 }).toEqual({ draft: 'completed', review: 'needs_qa', publish: 'pending' });
    const steps = await unwrap(batonClient(editorToken).GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    expect(await nodeStatuses(page)).toEqual(Object.fromEntries(steps.items.map((step) => [step.id, step.status])));
    expect(await page.getByTestId('run-status').textContent()).toBe('running');
    // The timeline has a row per step; the steps that ran have an attempt bar.
    await expect.poll(() => page.locator('[data-testid="timeline"] .timeline-row').count(), poll).toBe(3);
    await expect.poll(() => page.locator('[data-testid="timeline"] .timeline-row[data-step-id="draft"] .bar[data-status="completed"]').count(), poll).toBe(1);
    await expect.poll(() => page.locator('[data-testid="event-log"] tr[data-event-type="step.needs_qa"]').count(), poll).toBe(1);
    // An editor sees the actions a running run allows.
    expect(await page.getByRole('button', { name: 'Pause' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Cancel' }).isVisible()).toBe(true);
    await page.locator('[data-step-id="review"]').first().click();
    await page.getByTestId('decision').waitFor();
    // A person's approval has no attempts to count: the drawer says none ("attempt 1 of 3" meant nothing).
    expect(await page.getByTestId('step-drawer').textContent()).not.toMatch(/attempt/i);
    await page.screenshot({ path: screenshotPath('run.png'), fullPage: true });
  });

  it('approves a waiting step from the inbox, and the run completes on screen without a reload', async () => {
    const { id } = await client.run(gateWorkflow);
    approvedRun = id;
    await client.waitForStep(id, 'review', ['needs_qa']);
    await markPage(page);

    await page.locator('nav').getByRole('link', { name: 'Inbox' }).click();
    const item = page.locator(`[data-testid="inbox"] li[data-run-id="${id}"][data-step-id="review"]`);
    await item.waitFor({ timeout: 20_000 });
    await page.screenshot({ path: screenshotPath('inbox.png'), fullPage: true });
    await item.locator('textarea[name="comment"]').fill('Looks good to me');
    await item.getByRole('button', { name: 'Approve' }).click();
    await item.waitFor({ state: 'detached', timeout: 20_000 });
    await openRun(page, id);

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ draft: 'completed', review: 'completed', publish: 'completed' });
    expect(await pageWasKept(page)).toBe(true);
    // The comment is on the step (its drawer) and in the event log, with who approved.
    await page.locator('[data-testid="dag"] [data-step-id="review"]').click();
    await expect.poll(() => page.getByTestId('step-comment').textContent(), poll).toMatch(/^Looks good to meapproved by console-editor \(you\), /);
    await expect.poll(() => page.locator('[data-testid="event-log"] tr[data-event-type="step.completed"] q.comment').allTextContents(), poll).toEqual(['Looks good to me']);
    const review = await client.step(id, 'review');
    expect(review).toMatchObject({ comment: 'Looks good to me', output: { comment: 'Looks good to me' } });
  });

  it('retries a blocked run with an edited input', async () => {
    const { id } = await client.run(validateWorkflow);
    await openRun(page, id);
    await markPage(page);

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('blocked');
    await page.getByRole('button', { name: 'Retry…' }).click();
    const input = page.locator('textarea[data-step-id="check"]');
    await expect.poll(() => input.inputValue(), poll).toContain('"valid": false');
    await input.fill((await input.inputValue()).replace('"valid": false', '"valid": true'));
    await page.getByRole('button', { name: 'Retry run' }).click();

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ prepare: 'completed', check: 'completed' });
    expect(await pageWasKept(page)).toBe(true);
    // Both attempts are on the timeline: the one that failed and the one after the retry.
    await expect
      .poll(() => attributes(page.locator('[data-testid="timeline"] .timeline-row[data-step-id="check"] .bar[data-attempt]'), 'data-status'), poll)
      .toEqual(['failed', 'completed']);
    // An agent call's attempts mean something: the drawer counts them.
    await page.locator('[data-testid="dag"] [data-step-id="check"]').click();
    await expect.poll(() => page.getByTestId('step-attempt').textContent(), poll).toBe(' · attempt 2 of 2');
    expect(await page.getByTestId('step-attempts').locator('tr').count()).toBe(2);
    const check = await client.step(id, 'check');
    expect(check).toMatchObject({ status: 'completed', input: { body: { valid: true } } });
    expect(testAgent().requests.filter((request) => request.path === '/validate').length).toBeGreaterThanOrEqual(2);
  });

  it('shows spend against a strict run budget, and an editor raises it and resumes the run it blocked', async () => {
    const llm = (id: string, dependsOn: string[] = []) => ({ id, kind: 'llm', dependsOn, input: { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', prompt: 'Name an otter.', maxTokens: 100 } });
    // 100 tokens fit the first step's worst case (maxTokens 100), not the second's after the first spent some.
    const workflowId = await client.workflow({ name: 'budgeted', steps: [llm('first'), llm('second', ['first'])] });
    const { id } = await client.run(workflowId, { budget: { tokens: 100, mode: 'strict' } });
    await openRun(page, id);

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('blocked');
    // The reason as a code and its sentence, and the refusal's numbers from its budget.exceeded event.
    const reason = page.getByTestId('run-reason');
    await expect.poll(() => reason.getAttribute('data-code'), poll).toBe('BUDGET_EXCEEDED');
    expect(await reason.locator('.reason-code').textContent()).toBe('BUDGET_EXCEEDED');
    expect(await reason.textContent()).toMatch(/step second could spend up to 100 tokens/);
    await expect.poll(() => page.getByTestId('refusal-limit').textContent(), poll).toBe('100 tokens');
    expect(await page.getByTestId('budget-refusal').textContent()).toMatch(/budgetrun.*step second could spend100 tokens/);
    await page.screenshot({ path: screenshotPath('run-budget-blocked.png'), fullPage: true });
    await expect.poll(() => page.getByTestId('budget-run').textContent(), poll).toMatch(/^run [0-9,.\u202f]+ \/ 100 tokens · strict/);
    await page.getByRole('button', { name: 'Set run budget…' }).click();
    await page.getByLabel('tokens').fill('5000');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByTestId('budget-run').textContent(), poll).toMatch(/\/ 5[,.\u202f]?000 tokens · strict/);
    await page.getByRole('button', { name: 'Resume' }).click();

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    expect((await client.getRun(id)).budgets.run?.tokens).toBe(5000);
  });

  it('shows a run stopped by its limit of executions with the numbers, and an editor raises the limit and resumes it', async () => {
    const workflowId = await client.workflow({ name: 'limited', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }] });
    const { id } = await client.run(workflowId, { limits: { maxExecutedSteps: 2 } });
    await openRun(page, id);

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('blocked');
    const reason = page.getByTestId('run-reason');
    await expect.poll(() => reason.getAttribute('data-code'), poll).toBe('MAX_EXECUTED_STEPS');
    expect(await reason.textContent()).toMatch(/step c would be execution 3, and the run's limits\.maxExecutedSteps is 2/);
    await expect.poll(() => page.getByTestId('limit-stop').textContent(), poll).toMatch(/limitmaxExecutedSteps.*value2.*executed2.*stepIdc/);
    await expect.poll(() => page.getByTestId('limit-executions').textContent(), poll).toBe('executions 2 / 2');
    await page.screenshot({ path: screenshotPath('run-limit-blocked.png'), fullPage: true });
    await page.getByRole('button', { name: 'Set limits…' }).click();
    await page.locator('input[name="maxExecutedSteps"]').fill('5');
    await page.getByRole('form', { name: 'Run limits' }).getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByTestId('limit-executions').textContent(), poll).toBe('executions 2 / 5');
    await page.getByRole('button', { name: 'Resume' }).click();

    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    expect((await client.getRun(id)).limits).toMatchObject({ maxExecutedSteps: 5, executedSteps: 3 });
  });

  it('records feedback on a step, re-runs it with guidance, forks the run at a step with a new input and compares the two', async () => {
    const llm = (id: string, prompt: string, dependsOn: string[] = []) => ({ id, kind: 'llm', dependsOn, input: { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', prompt, maxTokens: 60 } });
    const workflowId = await client.workflow({
      name: 'article',
      steps: [
        { id: 'topic', kind: 'noop', input: { note: 'start' } },
        llm('research', 'Three facts about otters.', ['topic']),
        llm('draft', 'Write about {{runInput.topic}} from: {{dependencies.research.text}}', ['research']),
        { id: 'publish', kind: 'noop', dependsOn: ['draft'] },
      ],
    });
    const { id } = await client.run(workflowId, { input: { topic: 'otters' } });
    sourceRun = id;
    await client.waitFor(id, ['completed']);
    await openRun(page, id);
    await expect.poll(() => page.getByTestId('run-status').textContent(), poll).toBe('completed');

    // Feedback: none yet, then the editor's score with its comment, named as the signed-in token.
    await page.locator('[data-testid="dag"] [data-step-id="draft"]').click();
    const drawer = page.getByTestId('step-drawer');
    await expect.poll(() => drawer.getByTestId('step-feedback').textContent(), poll).toContain('No feedback yet.');
    await drawer.locator('input[name="score"]').fill('40');
    await drawer.locator('input[name="feedbackComment"]').fill('Too long, and vague.');
    await drawer.getByRole('button', { name: 'Add feedback' }).click();
    const item = drawer.getByTestId('feedback-item');
    await expect.poll(() => item.textContent(), poll).toMatch(/^40Too long, and vague\.human · by console-editor \(you\) · /);
    expect(await drawer.getByTestId('feedback-average').textContent()).toBe(' · average 40 of 1');
    // A score out of range is refused in the form, naming what is wrong; nothing is recorded.
    await drawer.locator('input[name="score"]').fill('140');
    await drawer.locator('form[aria-label="Add feedback"]').evaluate((form) => (form as unknown as { noValidate: boolean }).noValidate = true);
    await drawer.getByRole('button', { name: 'Add feedback' }).click();
    await expect.poll(() => drawer.getByRole('alert').textContent(), poll).toBe('The score must be a whole number from 0 to 100');
    const recorded = await unwrap(client.baton.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId: id, stepId: 'draft' } } }));
    expect(recorded).toMatchObject({ count: 1, averageScore: 40, items: [{ score: 40, comment: 'Too long, and vague.', source: 'human', actorName: 'console-editor' }] });
    await page.screenshot({ path: screenshotPath('step-feedback.png'), fullPage: true });

    // Re-run with guidance: a new generation of draft, then publish; research does not run again.
    const draftBefore = await client.step(id, 'draft');
    await drawer.getByRole('button', { name: 'Re-run…' }).click();
    await drawer.locator('textarea[name="guidance"]').fill('Shorter, please.');
    await page.screenshot({ path: screenshotPath('step-rerun.png'), fullPage: true });
    await drawer.getByRole('button', { name: 'Re-run step' }).click();
    await expect.poll(() => drawer.getByRole('status').textContent(), poll).toBe('Running draft again as generation 2, then publish.');
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    await expect.poll(() => drawer.getByTestId('step-generation').textContent(), poll).toBe(' · generation 2');
    const draftAfter = await client.step(id, 'draft');
    expect(draftAfter).toMatchObject({ generation: 2, guidance: 'Shorter, please.' });
    expect(draftAfter.output).not.toEqual(draftBefore.output);
    expect((await client.step(id, 'research')).generation).toBe(1);

    // Fork at draft with another topic: the fork opens, reusing topic and research.
    await drawer.getByRole('button', { name: 'Fork from here…' }).click();
    const fork = page.getByRole('form', { name: 'Fork run' });
    expect(await fork.locator('select[name="fromStep"]').inputValue()).toBe('draft');
    await fork.locator('textarea[name="forkInput"]').fill('{"topic": "sea otters"}');
    await fork.getByRole('button', { name: 'Fork run' }).click();
    await expect.poll(() => page.getByTestId('forked-from').textContent(), poll).toBe(`Forked from run ${id} at step draft · compare with it`);
    const forkId = (await page.evaluate(() => (globalThis as unknown as BrowserGlobals).location.hash)).replace('#/runs/', '');
    expect(forkId).toMatch(/^run_/);
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000, interval: 250 }).toBe('completed');
    const forked = await client.getRun(forkId);
    expect(forked).toMatchObject({ forkedFrom: { runId: id, stepId: 'draft' }, input: { topic: 'sea otters' } });
    await page.locator('[data-testid="dag"] [data-step-id="research"]').click();
    await expect.poll(() => page.getByTestId('step-reused').textContent(), poll).toBe(`Reused: the output of run ${id} (generation 1); it did not run here.`);

    // Compare: draft and publish differ, research is reused in the fork; the totals and b − a.
    await page.getByTestId('forked-from').getByRole('link', { name: 'compare with it' }).click();
    const compare = page.getByTestId('compare');
    await compare.waitFor({ timeout: 20_000 });
    const comparison = await unwrap(client.baton.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId: id, otherRunId: forkId } } }));
    expect(comparison.changedSteps).toContain('draft');
    await expect.poll(() => attributes(compare.locator('.compare-steps > tbody > tr'), 'data-step-id'), poll).toEqual(comparison.steps.map((step) => step.stepId));
    expect((await attributes(compare.locator('.compare-steps > tbody > tr[data-changed="true"]'), 'data-step-id')).sort()).toEqual([...comparison.changedSteps].sort());
    expect(await compare.locator('tr[data-step-id="research"] .badge.reused').count()).toBe(1);
    const draftRow = compare.locator('tr[data-step-id="draft"]');
    expect(await draftRow.getByTestId('output-diff').textContent()).toMatch(/^\d+ differences?/);
    await draftRow.locator('summary').click();
    expect(await draftRow.locator('.diff td.mono').first().textContent()).toBe('text');
    expect(await compare.getByTestId('compare-total-a').textContent()).toContain(formatUsdLike(comparison.a.costUsd));
    expect(await compare.getByTestId('compare-total-b').textContent()).toContain(formatUsdLike(comparison.b.costUsd));
    expect(await compare.getByTestId('compare-difference').textContent()).toContain(formatUsdLike(comparison.difference.costUsd));
    expect(comparison.b.reusedSteps).toBe(2);
    await page.screenshot({ path: screenshotPath('compare.png'), fullPage: true });
  });

  it('shows a viewer no action it cannot take', async () => {
    const waiting = await client.run(gateWorkflow);
    const blocked = await client.run(validateWorkflow);
    await client.waitForStep(waiting.id, 'review', ['needs_qa']);
    await client.waitFor(blocked.id, ['blocked']);
    const viewer = await openBrowser();
    try {
      await signIn(viewer.page, viewerToken);
      expect(await viewer.page.getByTestId('role').textContent()).toBe('viewer');
      expect(await viewer.page.locator('nav').getByRole('link', { name: 'Admin' }).count()).toBe(0);
      expect(await viewer.page.locator('nav').getByRole('link', { name: 'Import plan' }).count()).toBe(0);

      for (const run of [waiting, blocked]) {
        await openRun(viewer.page, run.id);
        await viewer.page.locator('[data-testid="dag"] [data-step-id]').first().waitFor();
        await viewer.page.locator('[data-step-id="review"], [data-step-id="check"]').first().click();
        await viewer.page.getByTestId('step-drawer').locator('.badge').first().waitFor();
        expect(await viewer.page.getByRole('button').allTextContents()).toEqual(expect.not.arrayContaining(['Pause', 'Resume', 'Cancel', 'Retry…', 'Approve', 'Reject', 'Fork…', 'Set run budget…', 'Set limits…']));
      }
      // A completed run: the viewer reads the feedback and who gave it (by name, never a token id), with no form, re-run or fork.
      await openRun(viewer.page, sourceRun);
      await viewer.page.locator('[data-testid="dag"] [data-step-id="draft"]').click();
      const feedbackItem = viewer.page.getByTestId('feedback-item');
      await expect.poll(() => feedbackItem.textContent(), poll).toMatch(/^40Too long, and vague\.human · by console-editor · /);
      expect(await viewer.page.getByTestId('step-drawer').locator('form').count()).toBe(0);
      expect(await viewer.page.getByRole('button').allTextContents()).toEqual(expect.not.arrayContaining(['Re-run…', 'Fork from here…', 'Fork…', 'Add feedback']));
      // Who approved, by the editor token's name: the API gives a viewer the name, not the id.
      await openRun(viewer.page, approvedRun);
      const approvedBy = viewer.page.locator('[data-testid="event-log"] tr[data-event-type="step.completed"]:has(q.comment) .actor');
      await expect.poll(() => approvedBy.textContent(), poll).toBe('console-editor');
      expect(await approvedBy.getAttribute('data-actor')).toBe('token');
      expect(await viewer.page.getByTestId('event-log').textContent()).not.toMatch(/tok_/);
      await viewer.page.locator('nav').getByRole('link', { name: 'Inbox' }).click();
      await viewer.page.locator(`[data-testid="inbox"] li[data-run-id="${waiting.id}"]`).waitFor({ timeout: 20_000 });
      expect(await viewer.page.getByRole('button', { name: /Approve|Reject/ }).count()).toBe(0);
      // Nor on the other pages: the only buttons left are signing out and paging back.
      const onlyReading = ['Sign out', 'Older events'];
      await viewer.page.locator('nav').getByRole('link', { name: 'Events' }).click();
      await viewer.page.locator('[data-testid="feed"] tr[data-event-id]').first().waitFor({ timeout: 20_000 });
      // (and opening an event's whole detail: ▸)
      expect((await viewer.page.getByRole('button').allTextContents()).filter((text) => !onlyReading.includes(text) && text !== '\u25b8')).toEqual([]);
      await openWorkflow(viewer.page, gateWorkflow);
      await viewer.page.locator('[data-testid="dag"] [data-step-id]').first().waitFor();
      expect(await viewer.page.getByRole('button').allTextContents()).toEqual(['Sign out']);
    } finally {
      await viewer.close();
    }
  });

  it('lets an admin create a token (shown once) and set a project secret whose value is never shown', async () => {
    const admin = await openBrowser();
    try {
      await signIn(admin.page, client.token);
      await admin.page.locator('nav').getByRole('link', { name: 'Admin' }).click();
      const tokens = admin.page.getByRole('form', { name: 'Create a token' });
      await tokens.locator('input[name="tokenName"]').fill('from-console');
      await tokens.locator('select[name="tokenRole"]').selectOption('viewer');
      await tokens.getByRole('button', { name: 'Create token' }).click();
      const shown = await admin.page.getByTestId('shown-once').textContent();
      expect(shown).toMatch(/^btn_/);
      await admin.page.locator('[data-testid="tokens"] td', { hasText: 'from-console' }).waitFor();
      const whoami = await unwrap(batonClient(shown!).GET('/v1/whoami'));
      expect(whoami.role).toBe('viewer');

      const secrets = admin.page.getByRole('form', { name: 'Set a secret' });
      await secrets.locator('input[name="secretName"]').fill('agent-key');
      await secrets.locator('input[name="secretValue"]').fill('s3cr3t-console-value');
      await secrets.getByRole('button', { name: 'Save secret' }).click();
      await admin.page.getByText('agent-key', { exact: true }).waitFor();
      expect(await admin.page.content()).not.toContain('s3cr3t-console-value');

      // A controlled checkbox: it shows the new value once the saved settings are read back.
      await admin.page.locator('input[name="publishStepEvents"]').click();
      await admin.page.locator('input[name="publishStepEvents"]:checked').waitFor();
      const settings = await eventually('the console to turn publishStepEvents on', async () => {
        const project = await unwrap(client.baton.GET('/v1/projects/{projectId}', { params: { path: { projectId: client.projectId } } }));
        return project.settings.publishStepEvents ? project.settings : undefined;
      });
      expect(settings.autoQaOnCi).toBe(false);

      // Who did what, by token name: an admin reads the token list. The editor's approval names
      // the editor's token, the admin's own changes say so; the id stays on hover.
      await openRun(admin.page, approvedRun);
      const approvedBy = admin.page.locator('[data-testid="event-log"] tr[data-event-type="step.completed"]:has(q.comment) .actor');
      await expect.poll(() => approvedBy.textContent(), poll).toBe('console-editor');
      expect(await approvedBy.getAttribute('title')).toMatch(/^tok_/);
      await admin.page.locator('nav').getByRole('link', { name: 'Events' }).click();
      const created = admin.page.locator('[data-testid="feed"] tr[data-event-type="token.created"]', { hasText: 'from-console' }).locator('.actor');
      await expect.poll(() => created.textContent(), poll).toBe('initial admin token (you)');
      await admin.page.screenshot({ path: screenshotPath('events-admin.png') });
    } finally {
      await admin.close();
    }
  });

  it('lets the installation token pick its project from the installation\'s projects', async () => {
    const installation = await openBrowser();
    try {
      await installation.page.goto(stack.consoleUrl);
      await installation.page.locator('input[name="token"]').fill(await installationToken());
      await installation.page.getByRole('button', { name: 'Sign in' }).click();

      const ours = installation.page.locator(`[data-testid="projects"] li[data-project-id="${client.project.id}"]`);
      await ours.waitFor({ timeout: 20_000 });
      expect(await ours.textContent()).toContain('console');
      await installation.page.screenshot({ path: screenshotPath('projects.png'), fullPage: true });
      await ours.getByRole('button').click();

      await installation.page.getByTestId('role').waitFor();
      expect(await installation.page.getByTestId('who').textContent()).toContain(client.project.id);
      expect(await installation.page.getByTestId('role').textContent()).toBe('admin');
      await installation.page.locator('[data-testid="runs"] tr[data-run-id]').first().waitFor({ timeout: 20_000 });
      // Back to the picker, and a mistyped id is refused there.
      await installation.page.getByTestId('who').getByRole('button', { name: client.project.id }).click();
      await installation.page.getByRole('textbox', { name: 'Project id' }).fill('prj_00000000000000000000000000');
      await installation.page.getByRole('button', { name: 'Open by id' }).click();
      await expect.poll(() => installation.page.getByRole('alert').textContent(), poll).toMatch(/not found/i);
    } finally {
      await installation.close();
    }
  });

  it("shows the project's event feed, newest first, and new events without a reload", async () => {
    await page.locator('nav').getByRole('link', { name: 'Events' }).click();
    await page.locator('[data-testid="feed"] tr[data-event-id]').first().waitFor({ timeout: 20_000 });
    await markPage(page);
    const { id } = await client.run(gateWorkflow);

    const created = page.locator(`[data-testid="feed"] tr[data-event-type="run.created"]:has(a[href$="${id}"])`);
    await created.waitFor({ timeout: 20_000 });
    const ids = await attributes(page.locator('[data-testid="feed"] tr[data-event-id]'), 'data-event-id');
    expect(ids).toEqual([...ids].sort().reverse());
    // The run's gate waiting for a person is in the feed (the step events a person acts on always are).
    await page.locator(`[data-testid="feed"] tr[data-event-type="step.needs_qa"]:has(a[href$="${id}"])`).waitFor({ timeout: 20_000 });
    expect(await pageWasKept(page)).toBe(true);
    await page.screenshot({ path: screenshotPath('events.png') });
    await created.getByRole('link').click();
    await expect.poll(() => nodeStatuses(page), poll).toMatchObject({ draft: 'completed' });
  });

  it('previews an imported plan CSV as a graph before saving it, and refuses one with a cycle', async () => {
    const name = 'two-weeks';
    const savedNames = async () => (await unwrap(client.baton.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId: client.projectId } } }))).items.map((workflow) => workflow.name);
    await page.locator('nav').getByRole('link', { name: 'Import plan' }).click();
    await page.locator('input[name="file"]').setInputFiles({ name: 'plan.csv', mimeType: 'text/csv', buffer: Buffer.from(generatePlanCsv(14)) });
    await page.locator('input[name="name"]').fill(name);
    await expect.poll(() => page.locator('textarea[name="csv"]').inputValue(), poll).toContain('Day,Date');

    await page.getByRole('button', { name: 'Preview' }).click();

    const preview = page.getByTestId('import-preview');
    await preview.waitFor();
    expect(await preview.locator('[data-step-id]').count()).toBe(14);
    expect(Object.fromEntries(await Promise.all((await preview.locator('[data-step-id]').all()).map(async (node) => [await node.getAttribute('data-step-id'), await node.getAttribute('data-status')] as const)))).toMatchObject({
      'day-1': 'completed',
      'day-3': 'completed',
      'day-4': 'none',
      'day-14': 'none',
    });
    expect(await preview.getByRole('heading').textContent()).toBe(`${name}: 14 steps`);
    // Nothing is saved by the preview.
    expect(await savedNames()).not.toContain(name);
    await page.screenshot({ path: screenshotPath('import-preview.png'), fullPage: true });

    await page.getByRole('button', { name: 'Save workflow' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), poll).toMatch(/^Saved 14 steps as version 1/);
    expect(await savedNames()).toContain(name);

    await page.locator('textarea[name="csv"]').fill(generatePlanCsv(6, { cycle: true }));
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), poll).toMatch(/cycle/i);
    expect(await page.getByTestId('import-preview').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save workflow' }).isDisabled()).toBe(true);
  });

  it('draws a run of 365 steps', async () => {
    const imported = await client.importPlan(generatePlanCsv(365), { name: 'year' });
    expect(imported.steps).toBe(365);
    const { id } = await client.run(imported.id);

    const began = Date.now();
    await openRun(page, id);
    await expect.poll(() => page.locator('[data-testid="dag"] [data-step-id]').count(), { timeout: 60_000, interval: 100 }).toBe(365);
    const drawnMs = Date.now() - began;
    await page.locator('[data-testid="timeline"] .timeline-row').nth(364).waitFor({ state: 'attached' });
    const withTimelineMs = Date.now() - began;

    writeFileSync(statePath('console-365.json'), `${JSON.stringify({ steps: 365, drawnMs, withTimelineMs }, null, 2)}\n`);
    console.log(`console: 365-step run drawn in ${drawnMs} ms (timeline ${withTimelineMs} ms)`);
    await page.screenshot({ path: screenshotPath('run-365.png') });
    expect(drawnMs).toBeLessThan(30_000);
    // Cancelled so it does not keep the engine busy for the next test file.
    expect(await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'cancel' } } }))).toMatchObject({ status: 'cancelled' });

    // Once the run is over, every step that started has a bar on the timeline, and the days the
    // plan marked done (never started) a mark of their own.
    await expect.poll(() => page.getByTestId('run-status').textContent(), poll).toBe('cancelled');
    const steps = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    const started = steps.items.filter((step) => step.startedAt).map((step) => step.id);
    const withBars = () => attributes(page.locator('[data-testid="timeline"] .timeline-row:has(.bar[data-attempt])'), 'data-step-id');
    expect(started.length).toBeGreaterThan(0);
    await expect.poll(async () => (await withBars()).sort(), poll).toEqual(started.sort());
    expect(await attributes(page.locator('[data-testid="timeline"] .timeline-row:has(.bar.done-before)'), 'data-step-id')).toEqual(['day-1', 'day-2', 'day-3']);
  }, 180_000);
});
