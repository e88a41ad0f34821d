/**
 * The deployment stage: where the stack goes and which defaults apply. `local` is the emulator
 * (MiniStack or LocalStack): it allows loopback agents, destroys data on delete and pins ids
 * so URLs stay stable between deploys. Any other stage is a real AWS account and keeps its data.
 */
export interface Stage {
  name: string;
  isLocal: boolean;
  /** Origins allowed by CORS; `*` only on the local stage unless configured. */
  corsOrigins: string[];
  timing: EngineTiming;
}

/**
 * How long things may take. The lease (step timeout + margin) stays below the worker timeout,
 * which stays at or below the queue's visibility timeout, so a redelivered message always finds
 * the lease of a crashed worker expired. Locally everything is short so crash tests take
 * seconds, not minutes.
 */
export interface EngineTiming {
  workerTimeoutSeconds: number;
  queueVisibilitySeconds: number;
  defaultStepTimeoutSeconds: number;
  leaseMarginSeconds: number;
  /** How often the sweeper runs, and how old an unpublished event must be before it republishes it. */
  sweepEveryMinutes: number;
  sweepEventGraceSeconds: number;
}

const localTiming: EngineTiming = { workerTimeoutSeconds: 20, queueVisibilitySeconds: 20, defaultStepTimeoutSeconds: 5, leaseMarginSeconds: 2, sweepEveryMinutes: 1, sweepEventGraceSeconds: 5 };
const cloudTiming: EngineTiming = { workerTimeoutSeconds: 300, queueVisibilitySeconds: 900, defaultStepTimeoutSeconds: 240, leaseMarginSeconds: 10, sweepEveryMinutes: 1, sweepEventGraceSeconds: 60 };

const stageName = /^[a-z][a-z0-9-]{1,15}$/;

export function readStage(raw: { stage?: unknown; corsOrigins?: unknown }): Stage {
  const name = typeof raw.stage === 'string' ? raw.stage : undefined;
  if (!name) {
    throw new Error('No stage given: pass -c stage=<name> or set BATON_STAGE (e.g. "local", "dev", "prod").');
  }
  if (!stageName.test(name)) {
    throw new Error(`Invalid stage "${name}": use 2-16 lowercase letters, digits or dashes, starting with a letter.`);
  }
  const isLocal = name === 'local';
  const corsOrigins =
    typeof raw.corsOrigins === 'string' && raw.corsOrigins.trim()
      ? raw.corsOrigins.split(',').map((origin) => origin.trim())
      : isLocal ? ['*'] : [];
  return { name, isLocal, corsOrigins, timing: isLocal ? localTiming : cloudTiming };
}
