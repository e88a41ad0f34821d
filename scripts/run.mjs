#!/usr/bin/env node
// Entry point of `npm start`, `npm test` and friends on a fresh clone: plain Node, no
// dependencies. It installs node_modules when they are missing or older than the lockfile,
// then hands over to the TypeScript script named on the command line (run with tsx).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`Baton needs Node.js 20 or newer; this is ${process.version}.`);
  process.exit(1);
}

// The tooling supports Node 20 (README); silence the SDK's notice that future releases will not.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const stale = !existsSync(tsx) || !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  console.log('Installing Node dependencies (npm ci)…');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (npm.status !== 0) {
    console.error('npm ci failed; see the output above.');
    process.exit(npm.status ?? 1);
  }
}

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: node scripts/run.mjs <script.ts> [args…]');
  process.exit(2);
}
// Ctrl-C reaches the child too (same process group); this process only waits for it to clean up.
const child = spawn(tsx, [join(root, 'scripts', script), ...args], { cwd: root, stdio: 'inherit' });
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
