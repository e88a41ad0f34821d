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
  /**
   * Lambda functions the worker may invoke as `lambda` steps besides `baton-agent-*` in its own
   * account and region (`-c agentFunctions=<arn,…>`): ARNs, optionally with `*` wildcards.
   */
  agentFunctions: string[];
  /**
   * The EventBridge bus `eventbridge` triggers listen on (`-c triggerBus=<name>`, BATON_TRIGGER_BUS):
   * the account's `default` bus unless named. Its rules are Baton's, named `triggerRulePrefix(stage)…`.
   */
  triggerBus: string;
  timing: EngineTiming;
  /** When each alarm fires (infra/stacks/operations-stack.ts; README, "Operating Baton"). */
  alarms: AlarmThresholds;
  /** Where alarm notifications are mailed (`-c alarmEmail=ops@example.com`); none: the topic only. */
  alarmEmail?: string;
}

/**
 * The alarms' thresholds, in one place per stage. Every alarm sums (or takes the maximum of) its
 * metric over `periodMinutes` and fires after `evaluationPeriods` such periods in breach, except
 * the dead-letter alarms, which fire on the first message.
 */
export interface AlarmThresholds {
  periodMinutes: number;
  evaluationPeriods: number;
  /** The oldest message of the step queue: older means the worker is not keeping up (or not running). */
  oldestStepMessageSeconds: number;
  /** Step worker invocations that failed (crashed, timed out, threw) in a period; step failures are not these. */
  workerErrors: number;
  /** API answers with a 5xx in a period (a function error reaches the client as one). */
  api5xxResponses: number;
  /** Failed sweeper runs in a period (it runs every minute; one failure is repaired by the next run). */
  sweeperErrors: number;
  /** Steps the sweeper found still running past their lease (their worker vanished) in a period. */
  expiredLeases: number;
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
  /**
   * The longest `timeoutSeconds` a running kind may ask for: what one worker invocation can
   * honour after its lease margin and the time it takes to start (cold start, the claim's reads
   * and writes). StepSpec refuses more (the api function reads it as MAX_STEP_TIMEOUT_SECONDS).
   */
  maxStepTimeoutSeconds: number;
  leaseMarginSeconds: number;
  /** How often the sweeper runs, and how old an unpublished event must be before it republishes it. */
  sweepEveryMinutes: number;
  sweepEventGraceSeconds: number;
  /**
   * How long a queued step's message may be overdue before the sweeper sends it again (a lost
   * send): beyond a normal queue backlog, so re-sends are rare duplicates at worst.
   */
  sweepDispatchGraceSeconds: number;
}

const localTiming: EngineTiming = { workerTimeoutSeconds: 20, queueVisibilitySeconds: 20, defaultStepTimeoutSeconds: 5, maxStepTimeoutSeconds: 15, leaseMarginSeconds: 2, sweepEveryMinutes: 1, sweepEventGraceSeconds: 5, sweepDispatchGraceSeconds: 60 };
// The worker gets Lambda's whole 15 minutes so an attempt may take up to 870 s (900 - 10 s
// lease margin - 20 s to start); the visibility timeout is twice that, so a throttled or
// slow-to-start invocation never sees its message come back while it still runs. The price:
// a crashed worker's step is taken over after up to 30 minutes (docs/ARCHITECTURE.md, Timing).
// Locally the alarms exist (so the deploy proves them) with the same shape; their numbers matter on AWS.
const localAlarms: AlarmThresholds = { periodMinutes: 1, evaluationPeriods: 1, oldestStepMessageSeconds: 120, workerErrors: 1, api5xxResponses: 1, sweeperErrors: 1, expiredLeases: 1 };
// The step queue's messages wait at most a backlog's worth: 15 minutes is beyond any normal one
// (steps whose dispatch is delayed by backoff or notBefore are "delayed", not counted in the age).
// Errors are counted over 5 minutes, twice in a row, so one cold-start hiccup does not page anyone.
const cloudAlarms: AlarmThresholds = { periodMinutes: 5, evaluationPeriods: 2, oldestStepMessageSeconds: 900, workerErrors: 5, api5xxResponses: 10, sweeperErrors: 2, expiredLeases: 10 };

const cloudTiming: EngineTiming = { workerTimeoutSeconds: 900, queueVisibilitySeconds: 1800, defaultStepTimeoutSeconds: 240, maxStepTimeoutSeconds: 870, leaseMarginSeconds: 10, sweepEveryMinutes: 1, sweepEventGraceSeconds: 60, sweepDispatchGraceSeconds: 300 };

/** Problems with a timing, if any (the invariants the engine relies on); empty when sound. */
export function timingProblems(timing: EngineTiming): string[] {
  const problems: string[] = [];
  if (timing.maxStepTimeoutSeconds + timing.leaseMarginSeconds >= timing.workerTimeoutSeconds) {
    problems.push('maxStepTimeoutSeconds + leaseMarginSeconds must stay below workerTimeoutSeconds');
  }
  if (timing.workerTimeoutSeconds > timing.queueVisibilitySeconds) problems.push('workerTimeoutSeconds must not exceed queueVisibilitySeconds');
  if (timing.defaultStepTimeoutSeconds > timing.maxStepTimeoutSeconds) problems.push('defaultStepTimeoutSeconds must not exceed maxStepTimeoutSeconds');
  if (timing.workerTimeoutSeconds > 900) problems.push('workerTimeoutSeconds must not exceed 900 (Lambda\'s limit)');
  return problems;
}

const stageName = /^[a-z][a-z0-9-]{1,15}$/;

/** A Lambda function ARN, or a pattern of them (`*`, `?`), optionally with a version or alias. */
const agentFunctionArn = /^arn:aws[a-z-]*:lambda:[a-z0-9*?-]+:(\d{12}|[*?]+):function:[A-Za-z0-9_*?-]+(:[A-Za-z0-9_$*?-]+)?$/;

/** `-c agentFunctions=arn1,arn2` (or a list in cdk.json) → the ARNs, each checked. */
const readAgentFunctions = (raw: unknown): string[] => {
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',') : [];
  const arns = list.map((arn) => arn.trim()).filter(Boolean);
  for (const arn of arns) {
    if (!agentFunctionArn.test(arn)) {
      throw new Error(`Invalid agentFunctions entry "${arn}": give Lambda function ARNs (arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]), "*" allowed, separated by commas.`);
    }
  }
  return arns;
};

/** An event bus name (not an ARN: the bus is in the stack's own account and region). */
const busName = /^[A-Za-z0-9._-]{1,256}$/;

const readTriggerBus = (raw: unknown): string => {
  const name = typeof raw === 'string' && raw.trim() ? raw.trim() : 'default';
  if (!busName.test(name)) throw new Error(`Invalid triggerBus "${name}": give the name of an event bus in this account and region (letters, digits, . _ -).`);
  return name;
};

/** Every trigger rule's name starts with it; the API's EventBridge grant is scoped to it. */
export const triggerRulePrefix = (stage: Pick<Stage, 'name'>): string => `baton-${stage.name}-trigger-`;

/** A plain e-mail address (SNS sends it a confirmation before it gets anything). */
const emailAddress = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

const readAlarmEmail = (raw: unknown): string | undefined => {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const email = typeof raw === 'string' ? raw.trim() : JSON.stringify(raw);
  if (!emailAddress.test(email)) throw new Error(`Invalid alarmEmail "${email}": give one e-mail address (-c alarmEmail=ops@example.com).`);
  return email;
};

export function readStage(raw: { stage?: unknown; corsOrigins?: unknown; agentFunctions?: unknown; triggerBus?: unknown; alarmEmail?: unknown }): Stage {
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
  const timing = isLocal ? localTiming : cloudTiming;
  const problems = timingProblems(timing);
  if (problems.length) throw new Error(`Engine timing of stage "${name}" is unsound: ${problems.join('; ')}`);
  const alarmEmail = readAlarmEmail(raw.alarmEmail);
  return {
    name,
    isLocal,
    corsOrigins,
    agentFunctions: readAgentFunctions(raw.agentFunctions),
    triggerBus: readTriggerBus(raw.triggerBus),
    timing,
    alarms: isLocal ? localAlarms : cloudAlarms,
    ...(alarmEmail ? { alarmEmail } : {}),
  };
}

/**
 * The SSM parameter holding the API's base URL: written by the API stack, read by the step
 * worker for callback URLs (the engine stack is built first, so it cannot take the URL itself).
 */
export const apiUrlParameterName = (stage: Stage): string => `/baton/${stage.name}/api-url`;
