import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's Chromium, which the console's browser test drives (playwright-core brings no browser). */
export const chromiumPath = '/usr/bin/chromium';

/**
 * Makes sure Chromium is installed: as root (CI on a fresh machine) with apt-get, otherwise it
 * says what to run. Called by `npm test` before the e2e suite.
 */
export function ensureChromium(): void {
  if (existsSync(chromiumPath)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`Chromium is missing (${chromiumPath}) and this is not root: install it with \`sudo apt-get install -y chromium\`, then run the tests again.`);
  }
  console.log('Installing Chromium for the console test (apt-get install chromium) …');
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
  }
  if (!existsSync(chromiumPath)) throw new Error(`apt-get installed chromium but ${chromiumPath} is still missing`);
}
