import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { nodeStatuses, openBrowser, openHash, screenshotPath, signIn, type ConsoleBrowser } from '../helpers/browser';
import { engineClient, type EngineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The console's faces of issue 12 that need a run in a particular state: a step held at its quality
 * gate for a person (the gate box: score, approve, guided re-run), a `feedback.critical` event as
 * the verdict it is, throttled steps saying what they wait for, the event log's whole detail on
 * click, and the timeline's axis on a run shorter than a second. Real browser, deployed stack.
 */
const testAgent = useTestAgent({ beforeAll, afterAll });
let client: EngineClient;
let browser: ConsoleBrowser;
let page: Page;

/** How long the page may take to show a change: the console polls with backoff (up to 8 s apart). */
const poll = { timeout: 30_000, interval: 250 };

beforeAll(async () => {
  await resetData();
  client = await engineClient('console-governance');
  browser = await openBrowser();
  page = browser.page;
  await signIn(page, client.token);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe('the console governing agents', () => {
  it("shows a human quality gate as one box: a person's low score pauses it with feedback.critical, a guided re-run runs it again, and approval completes the run", async () => {
    const workflowId = await client.workflow({
      name: 'gated-by-a-person',
      steps: [
        { id: 'draft', kind: 'noop', input: { text: 'otters are cute' }, qa: { reviewer: 'human', threshold: 60, onBelow: 'pause' } },
        { id: 'publish', kind: 'noop', dependsOn: ['draft'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'draft', ['needs_qa']);
    await openHash(page, `/runs/${id}`);
    await expect.poll(() => nodeStatuses(page), poll).toEqual({ draft: 'needs_qa', publish: 'pending' });
    expect(await page.locator('[data-testid="dag"] [data-step-id="draft"] title').textContent()).toBe('draft (noop): needs_qa (quality gate waiting)');

    // The box: the policy, where the gate is, and what a person can do there.
    await page.locator('[data-testid="dag"] [data-step-id="draft"]').click();
    const gate = page.getByTestId('gate-box');
    await expect.poll(() => gate.getAttribute('data-gate-state'), poll).toBe('waiting');
    expect(await gate.getByTestId('gate-policy').textContent()).toBe('reviewer human · threshold 60 · below it pause');
    expect(await gate.getByTestId('gate-state').textContent()).toBe('waiting waits for a person to score it, approve it or reject it');
    expect(await gate.getByRole('button').allTextContents()).toEqual(['Submit score', 'Approve', 'Reject', 'Re-run with guidance…']);
    expect(await page.getByTestId('gate-waits').textContent()).toBe("QUALITY GATE draft waits for a person's score (threshold 60)");
    await page.screenshot({ path: screenshotPath('gate-waiting.png'), fullPage: true });

    // A score below the threshold decides it as a reviewer's would: paused, with feedback.critical.
    await gate.locator('input[name="score"]').fill('35');
    await gate.locator('input[name="feedbackComment"]').fill('cite your sources');
    await gate.getByRole('button', { name: 'Submit score' }).click();
    await expect.poll(() => gate.getAttribute('data-gate-state'), poll).toBe('paused');
    expect(await gate.getByTestId('gate-score').textContent()).toBe('35below the threshold of 60cite your sources');
    expect(await gate.locator('.score').getAttribute('data-score-band')).toBe('low');
    // Paused: no more scoring there (feedback still goes to the list below), but approve, reject and re-run.
    expect(await gate.getByRole('button').allTextContents()).toEqual(['Approve', 'Reject', 'Re-run with guidance…']);
    await expect.poll(() => page.getByTestId('gate-waits').textContent(), poll).toBe('QUALITY GATE draft scored 35 (threshold 60): waits for a person to approve, reject or re-run it');
    const critical = page.locator('[data-testid="event-log"] tr[data-event-type="feedback.critical"]');
    await expect.poll(() => critical.getByTestId('feedback-critical').textContent(), poll).toBe('35 below the threshold of 60 on step draft: paused for a person cite your sources');
    // The whole detail, on click.
    expect(await critical.getByTestId('event-json').count()).toBe(0);
    await critical.getByRole('button', { name: 'Show the whole detail' }).click();
    const detail = JSON.parse((await critical.getByTestId('event-json').textContent()) ?? '') as Record<string, unknown>;
    const [event] = (await client.events(id)).filter((item) => item.type === 'feedback.critical');
    expect(detail).toEqual(event!.detail);
    expect(detail).toMatchObject({ score: 35, threshold: 60, comment: 'cite your sources', verdict: 'pause' });
    await page.screenshot({ path: screenshotPath('gate-paused.png'), fullPage: true });

    // A guided re-run: the step runs again with the guidance in its input and waits at its gate again.
    await gate.getByRole('button', { name: 'Re-run with guidance…' }).click();
    await gate.locator('textarea[name="guidance"]').fill('Name two sources.');
    await gate.getByRole('button', { name: 'Re-run step' }).click();
    await expect.poll(() => page.getByTestId('step-generation').textContent(), poll).toBe(' · generation 2');
    await expect.poll(() => gate.getAttribute('data-gate-state'), poll).toBe('waiting');
    expect((await client.step(id, 'draft')).input).toMatchObject({ text: 'otters are cute', guidance: 'Name two sources.' });

    // Approved as it is now: it completes, then publish, then the run.
    await gate.locator('textarea[name="comment"]').fill('Better.');
    await gate.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), poll).toBe('completed');
    await expect.poll(() => gate.getByTestId('gate-state').textContent(), poll).toBe('completed passed its gate');
    expect(await gate.getByRole('button').count()).toBe(0);
    // The banner reads the run's step list, read once more after the run ended (it may lag the run's status by that read).
    await expect.poll(() => page.getByTestId('gate-waits').count(), poll).toBe(0);
    expect(await client.step(id, 'draft')).toMatchObject({ status: 'completed', generation: 2, comment: 'Better.' });
  });

  it('says what throttled steps wait for: on the run, in the DAG and in the drawer', async () => {
    const workflowId = await client.workflow({
      name: 'per-customer',
      steps: [
        { id: 'root', kind: 'noop' },
        ...['sync-1', 'sync-2', 'sync-3', 'sync-4'].map((stepId) => ({
          id: stepId,
          kind: 'http',
          dependsOn: ['root'],
          input: { url: `${testAgent().url}/slow?ms=6000` },
          timeoutSeconds: 15,
          concurrency: { key: 'customer-{{runInput.customer}}', limit: 2 },
        })),
      ],
    });
    const { id } = await client.run(workflowId, { input: { customer: 'a' } });
    await openHash(page, `/runs/${id}`);

    const waits = page.getByTestId('capacity-waits');
    await expect.poll(() => waits.textContent(), poll).toMatch(/^THROTTLED 2 steps wait for capacity: key customer-a, limit 2, since \d+ (ms|s) · sync-\d, sync-\d$/);
    const throttled = Object.entries(await nodeStatuses(page)).filter(([, status]) => status === 'throttled').map(([stepId]) => stepId);
    expect(throttled).toHaveLength(2);
    const listed = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    expect(listed.items.filter((step) => step.status === 'throttled').map((step) => step.throttle)).toEqual([
      expect.objectContaining({ kind: 'concurrency', key: 'customer-a', limit: 2 }),
      expect.objectContaining({ kind: 'concurrency', key: 'customer-a', limit: 2 }),
    ]);
    expect(await page.locator(`[data-testid="dag"] [data-step-id="${throttled[0]}"] title`).textContent()).toBe(`${throttled[0]} (http): throttled (waiting for capacity: key customer-a, limit 2)`);

    // On the timeline, a throttled step's wait is drawn up to now in the throttled colour.
    await expect.poll(() => page.locator('[data-testid="timeline"] .bar.queued.throttled').count(), poll).toBe(2);
    await waits.getByRole('button', { name: throttled[0] }).click();
    const note = page.getByTestId('step-throttle');
    await expect.poll(() => note.textContent(), poll).toMatch(/^Waiting for capacity: key customer-a, limit 2, since \d+ (ms|s) \(.+\)\. It starts as soon as a slot frees; it does not poll\.$/);
    await page.screenshot({ path: screenshotPath('run-throttled.png'), fullPage: true });

    // As slots free, the waiting steps run and the note goes.
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 90_000, interval: 500 }).toBe('completed');
    expect(await waits.count()).toBe(0);
    expect(await note.count()).toBe(0);
  }, 120_000);

  it("labels the timeline's axis in the unit of the run's length", async () => {
    const workflowId = await client.workflow({ name: 'quick', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }] });
    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed']);
    const steps = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    const first = Math.min(...steps.items.map((step) => Date.parse(step.queuedAt!)));
    const span = Date.parse(run.finishedAt!) - first;
    await openHash(page, `/runs/${id}`);
    await expect.poll(() => page.getByTestId('run-status').textContent(), poll).toBe('completed');

    // The timeline draws after the run's status shows (its own read of the steps): wait for its ticks.
    const ticks = page.getByTestId('timeline-scale').locator('.tick');
    await expect.poll(() => ticks.count(), poll).toBeGreaterThanOrEqual(2);
    const labels = await ticks.allTextContents();
    // Round steps from 0, in ms under a second and in seconds above, never a "0.0 s" in the middle.
    expect(labels[0]).toBe('0');
    expect(labels.length).toBeGreaterThanOrEqual(2);
    expect(labels.length).toBeLessThanOrEqual(6);
    const units = new Set(labels.slice(1).map((label) => label.split(' ')[1]));
    expect(units.size).toBe(1);
    if (span < 1000) expect([...units]).toEqual(['ms']);
    const values = labels.slice(1).map((label) => Number.parseFloat(label));
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(new Set(values).size).toBe(values.length);
    expect(labels).not.toContain('0.0 s');
    console.log(`console: a ${span} ms run's axis reads ${labels.join(' | ')}`);
    await page.screenshot({ path: screenshotPath('timeline-short.png') });
  });
});
