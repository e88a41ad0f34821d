import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath } from '../../scripts/lib/browser';
import { stateDir } from '../../scripts/lib/paths';
import { stack } from './stack';

/**
 * Chromium's flags for this machine (headless, no sandbox, no GPU): without the background
 * networking ones Chromium's own connections are refused here and slow every page down.
 */
const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ConsoleBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh headless Chromium (its own profile directory) with one page. */
export async function openBrowser(): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'baton-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1440, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the deployed console and signs in with a token. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(stack.consoleUrl);
  await page.locator('input[name="token"]').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('role').waitFor();
}

/** Where screenshots go for people to look at (`.baton/screenshots/`, git-ignored). */
export function screenshotPath(name: string): string {
  const dir = join(stateDir, 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/** Opens a console route by changing the URL's hash (`/runs/run_…`): the console routes on it, the page is never reloaded. */
export async function openHash(page: Page, route: string): Promise<void> {
  await page.evaluate((hash) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
  }, `#${route}`);
}

/** The status of every DAG node the page shows, by step id. */
export async function nodeStatuses(page: Page): Promise<Record<string, string | null>> {
  const nodes = await page.locator('[data-testid="dag"] [data-step-id]').all();
  return Object.fromEntries(await Promise.all(nodes.map(async (node) => [(await node.getAttribute('data-step-id')) ?? '', await node.getAttribute('data-status')] as const)));
}
