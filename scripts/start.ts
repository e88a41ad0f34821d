/**
 * `npm start`: emulator up (unless AWS_ENDPOINT_URL names one), stack deployed, demo project
 * ready, URL and a working curl printed. Stays up until Ctrl-C, then stops what it started.
 * `npm start -- --detach` leaves everything running; `npm stop` ends it.
 */
import { ensureDemo } from './lib/demo';
import { deploy } from './lib/deploy';
import { logFile, startEmulator, stopEmulator } from './lib/emulator';

const detach = process.argv.includes('--detach');
// A developer's emulator logs every request it serves (one line each), so `npm run bench` can
// check Baton's usage meter against it; `npm test` keeps INFO.
process.env.BATON_EMULATOR_LOG_LEVEL ??= 'DEBUG';
const began = Date.now();

const emulator = await startEmulator();
let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  if (emulator.started) {
    console.log('\nStopping the emulator …');
    await stopEmulator();
  }
  process.exit(code);
};

try {
  if (emulator.started) console.log(`Emulator up at ${emulator.endpoint} (log: ${logFile()})`);
  const info = await deploy(emulator.endpoint);
  const demo = await ensureDemo(info);
  const health = await fetch(`${info.apiUrl}/health`);
  if (!health.ok) throw new Error(`GET /health answered ${health.status}`);
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  console.log(`
Baton is up (stage ${info.stage}, ready in ${seconds}s).

  API base URL:   ${info.apiUrl}
  Console:        ${info.consoleUrl}   (sign in with the demo token)
  Demo project:   ${demo.projectId}
  Demo token:     ${demo.token}
  CLI login:      npx baton login --url ${info.apiUrl} --token ${demo.token}

Try it:
  curl -s ${info.apiUrl}/health
  curl -s -H 'Authorization: Bearer ${demo.token}' ${info.apiUrl}/v1/whoami

Run the demo workflow (a four-step diamond), then look at it:
  curl -s -X POST -H 'Authorization: Bearer ${demo.token}' -H 'content-type: application/json' \\
    -d '{"workflowId":"${demo.workflowId}"}' ${info.apiUrl}/v1/projects/${demo.projectId}/runs
  curl -s -H 'Authorization: Bearer ${demo.token}' ${info.apiUrl}/v1/runs/<run id from above>
or, once logged in with the CLI line above, watch it run:
  npx baton run start ${demo.workflowId} --watch

Stack details for tools: .baton/stack.json${emulator.external ? '' : `   Emulator log: ${logFile()}`}`);
} catch (error) {
  console.error(`\n${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
}

if (detach || !emulator.started) {
  if (emulator.started) console.log('\nDetached: the emulator keeps running. Stop it with: npm stop');
  process.exit(0);
}
console.log('\nPress Ctrl-C to stop.');
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
setInterval(() => {}, 1 << 30);
