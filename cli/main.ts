/**
 * The `baton` process: real terminal, environment, network and clock handed to `runCli`. Ctrl-C
 * stops a watch or a follow cleanly (the run itself goes on) and exits 130.
 */
import { runCli } from './program';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted')));

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  terminal: { stdout: process.stdout, stderr: process.stderr },
  stdin: process.stdin,
  fetch: (request) => fetch(request),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      // The listener goes with the timer: a long watch must not pile one up per poll.
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason as Error);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  now: Date.now,
  signal: controller.signal,
});
process.exitCode = controller.signal.aborted ? 130 : code;
