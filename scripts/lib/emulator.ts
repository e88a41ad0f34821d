import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { root, statePath, venvDir } from './paths';

/** The MiniStack release Baton is tested with. Bump it here, then re-check infra/emulator-gaps.ts. */
export const ministackVersion = '1.5.33';

const defaultPort = 4566;
const readyTimeoutMs = 90_000;

export interface EmulatorTarget {
  endpoint: string;
  /** True when AWS_ENDPOINT_URL pointed at an emulator someone else runs: start and stop nothing. */
  external: boolean;
}

/** The AWS environment every script, the CDK CLI and the e2e tests use against the emulator. */
export function emulatorEnv(endpoint: string): Record<string, string> {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    CDK_DEFAULT_ACCOUNT: process.env.CDK_DEFAULT_ACCOUNT ?? '000000000000',
    CDK_DEFAULT_REGION: region,
  };
}

export function resolveTarget(): EmulatorTarget {
  const external = process.env.AWS_ENDPOINT_URL?.trim();
  if (external) return { endpoint: external.replace(/\/$/, ''), external: true };
  return { endpoint: `http://127.0.0.1:${port()}`, external: false };
}

function port(): number {
  return portSetting('BATON_EMULATOR_PORT', process.env.BATON_EMULATOR_PORT, defaultPort);
}

/** A port from the environment variable `name` (`raw`), `fallback` when unset; anything but 1024-65535 is refused naming the variable. */
export function portSetting(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1024 || value > 65535) {
    throw new Error(`${name} must be a port number from 1024 to 65535, got "${raw}"`);
  }
  return value;
}

export const logFile = (): string => statePath('emulator.log');
const pidFile = (): string => statePath('emulator.pid');

/** The emulator process when this very process started it (its exit must be awaited, not polled). */
let startedChild: ReturnType<typeof spawn> | undefined;

/** Answers when the emulator's health endpoint does (MiniStack or LocalStack), false on any error. */
export async function isHealthy(endpoint: string): Promise<boolean> {
  for (const path of ['/_ministack/health', '/_localstack/health']) {
    try {
      const response = await fetch(`${endpoint}${path}`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // not up (yet)
    }
  }
  return false;
}

function portIsFree(portNumber: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(portNumber, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function runningPid(): number | undefined {
  if (!existsSync(pidFile())) return undefined;
  const pid = Number(readFileSync(pidFile(), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Creates .venv and installs the pinned MiniStack into it, unless it is already there. */
export function ensureMiniStackInstalled(): string {
  const binary = join(venvDir, 'bin', 'ministack');
  const marker = join(venvDir, `.ministack-${ministackVersion}`);
  if (existsSync(binary) && existsSync(marker)) return binary;

  const python = findPython();
  console.log(`Installing MiniStack ${ministackVersion} into .venv …`);
  if (!existsSync(join(venvDir, 'bin', 'pip'))) run(python, ['-m', 'venv', venvDir]);
  run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `ministack==${ministackVersion}`]);
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  return binary;
}

function findPython(): string {
  for (const candidate of [process.env.BATON_PYTHON, 'python3', 'python'].filter(Boolean) as string[]) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const [major, minor] = probe.stdout.trim().split('.').map(Number);
    if (major === 3 && (minor ?? 0) >= 10) return candidate;
    throw new Error(`MiniStack needs Python 3.10 or newer; ${candidate} is ${probe.stdout.trim()}. Set BATON_PYTHON to a newer one.`);
  }
  throw new Error('Python 3.10+ was not found (tried BATON_PYTHON, python3, python). Install it, or set AWS_ENDPOINT_URL to an emulator you run yourself.');
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

/**
 * Starts MiniStack on 127.0.0.1 and waits until it answers. Returns `started: false` when an
 * emulator this project started earlier is still up (then it is reused, and left running).
 */
export async function startEmulator(): Promise<EmulatorTarget & { started: boolean }> {
  const target = resolveTarget();
  if (target.external) {
    if (!(await isHealthy(target.endpoint)) && !(await reachable(target.endpoint))) {
      throw new Error(`AWS_ENDPOINT_URL is ${target.endpoint}, but nothing answers there. Start your emulator first.`);
    }
    return { ...target, started: false };
  }

  const portNumber = port();
  const existing = runningPid();
  if (existing && (await isHealthy(target.endpoint))) {
    console.log(`Reusing the emulator already running (pid ${existing}) at ${target.endpoint}.`);
    return { ...target, started: false };
  }
  if (!(await portIsFree(portNumber))) {
    throw new Error(
      `Port ${portNumber} on 127.0.0.1 is already in use by another program, so the emulator cannot start there.\n` +
        `  Stop that program, or choose another port:  BATON_EMULATOR_PORT=4599 npm start\n` +
        `  If it is an emulator you started yourself:  AWS_ENDPOINT_URL=http://127.0.0.1:${portNumber} npm start`,
    );
  }

  const binary = ensureMiniStackInstalled();
  const log = openSync(logFile(), 'w');
  const child = spawn(binary, [], {
    cwd: root,
    detached: true, // its own process group, so stop() ends its Lambda workers too
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      GATEWAY_PORT: String(portNumber),
      BIND_HOST: '127.0.0.1',
      MINISTACK_HOST: '127.0.0.1',
      IOT_MTLS_ENABLED: '0',
      SFTP_ENABLED: '0',
      LOG_LEVEL: process.env.BATON_EMULATOR_LOG_LEVEL ?? 'INFO',
      S3_DATA_DIR: statePath('emulator-data'),
      // Lambdas run on the host's Node; bundles are CommonJS, but keep ESM bundles working too.
      NODE_OPTIONS: '--no-experimental-require-module',
      TMPDIR: statePath('emulator-tmp'),
    },
  });
  child.unref();
  startedChild = child;
  if (!child.pid) throw new Error('The emulator did not start; see ' + logFile());
  writeFileSync(pidFile(), String(child.pid));

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (await isHealthy(target.endpoint)) return { ...target, started: true };
    if (child.exitCode !== null || runningPid() === undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const tail = existsSync(logFile()) ? readFileSync(logFile(), 'utf8').split('\n').slice(-20).join('\n') : '';
  await stopEmulator();
  throw new Error(`The emulator did not become ready within ${readyTimeoutMs / 1000}s. Log (${logFile()}):\n${tail}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function reachable(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/** Stops the emulator this project started (by the PID it recorded), and its worker processes. */
export async function stopEmulator(): Promise<boolean> {
  const pid = runningPid();
  if (!pid) {
    rmSync(pidFile(), { force: true });
    return false;
  }
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const child = startedChild?.pid === pid && startedChild.exitCode === null ? startedChild : undefined;
  const exited = child ? new Promise((resolve) => child.once('exit', resolve)) : undefined;
  signalGroup('SIGTERM');
  const deadline = Date.now() + 10_000;
  const gone = async () => (exited ? await Promise.race([exited.then(() => true), sleep(100).then(() => false)]) : runningPid() !== pid);
  while (Date.now() < deadline && !(await gone())) if (!exited) await sleep(100);
  if (!(await gone())) signalGroup('SIGKILL');
  rmSync(pidFile(), { force: true });
  return true;
}
