/**
 * The `baton` process: real terminal, environment, network and clock handed to `runCli`. Ctrl-C
 * stops a watch or a follow cleanly (the run itself goes on) and exits 130.
 */
import { sleep } from '#sdk';
import { runCli } from './program';

// A reader that stops early (`baton runs list | head`) closes the pipe: end quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted')));

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  terminal: { stdout: process.stdout, stderr: process.stderr },
  stdin: process.stdin,
  fetch: (request) => fetch(request),
  sleep,
  now: Date.now,
  signal: controller.signal,
});
process.exitCode = controller.signal.aborted ? 130 : code;
