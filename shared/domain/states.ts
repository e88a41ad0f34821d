/**
 * Run and step statuses and the transitions between them (DESIGN §1). Every write that changes a
 * status is conditional on the current one; these tables are the single source of what is legal.
 */
export const runStatuses = ['pending', 'running', 'paused', 'blocked', 'failed', 'cancelled', 'completed'] as const;
export type RunStatus = (typeof runStatuses)[number];

export const stepStatuses = ['pending', 'queued', 'throttled', 'running', 'needs_qa', 'completed', 'failed', 'cancelled', 'blocked', 'skipped'] as const;
export type StepStatus = (typeof stepStatuses)[number];

export const finalRunStatuses: readonly RunStatus[] = ['failed', 'cancelled', 'completed'];
export const finalStepStatuses: readonly StepStatus[] = ['completed', 'failed', 'cancelled', 'skipped'];

export const runActions = ['start', 'pause', 'resume', 'cancel', 'retry'] as const;
export type RunAction = (typeof runActions)[number];

/** Run moves a person makes through a step's action rather than a run action of their own (issue 12 §4). */
export type RunMove = RunAction | 'rerun';

/**
 * From which statuses each run action (and a step's re-run) is legal, and the status it leads to.
 * `noFailedSteps`: a blocked run resumes only when no step failed (a budget block,
 * BUDGET_EXCEEDED); failed steps need `retry`, which also sends the steps a budget held.
 */
export const runActionRules: Record<RunMove, { from: readonly RunStatus[]; to: RunStatus; guard?: 'noFailedSteps' }> = {
  start: { from: ['pending'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused', 'blocked'], to: 'running', guard: 'noFailedSteps' },
  cancel: { from: ['pending', 'running', 'paused', 'blocked'], to: 'cancelled' },
  retry: { from: ['blocked'], to: 'running' },
  // A re-run of a finished step: the run is still or again running its downstream.
  rerun: { from: ['completed', 'blocked'], to: 'running' },
};

export const stepActions = ['approve', 'reject'] as const;
export type StepAction = (typeof stepActions)[number];

/** The API's 409 message for an action the run's status does not allow. */
export const illegalRunAction = (action: RunMove, status: RunStatus, failedSteps?: readonly string[]): string =>
  runActionRules[action].guard === 'noFailedSteps' && status === 'blocked' && failedSteps?.length
    ? `Cannot ${action} a run blocked by failed steps (${failedSteps.join(', ')}); retry it instead`
    : `Cannot ${action} a run that is ${status}; ${action} is allowed when the run is ${runActionRules[action].from.join(' or ')}`;

/** Whether a run action's rule allows it on a run as read (its status and, for a guarded one, its failed steps). */
export const runActionAllowed = (action: RunAction, run: { status: RunStatus; failedSteps?: readonly string[] }): boolean =>
  runActionRules[action].from.includes(run.status) && !(runActionRules[action].guard === 'noFailedSteps' && run.status === 'blocked' && (run.failedSteps?.length ?? 0) > 0);

/**
 * What a step transition requires beyond its `from` status (each becomes one clause of the
 * adapter's condition, and one check of the in-memory store):
 * - `attempt`: the step is still at the attempt the writer read (or claimed);
 * - `asRead`: the step is still in the very status the writer read (one of `from`);
 * - `leaseExpired`: the lease of the worker that ran it has run out (a takeover);
 * - `waitingLive`: the step waits for its agent's callback and that wait has not run out;
 * - `notReleasedBy`: this parent has not released the step before (its decrement counts once);
 * - `singleParent`: the step waits for one dependency only and was never decremented (no
 *   `releasedBy`): its message exists only because that parent finished, so it is ready.
 * - `gateRound`: its quality gate is still at the round the writer read (every gate write raises it);
 * - `leaseFree`: no live lease on the step (none, or run out): no reviewer is running it.
 */
export const stepGuards = ['attempt', 'asRead', 'leaseExpired', 'waitingLive', 'notReleasedBy', 'singleParent', 'gateRound', 'leaseFree'] as const;
export type StepGuard = (typeof stepGuards)[number];

export interface StepTransition {
  from: readonly StepStatus[];
  to: StepStatus;
  guard: readonly StepGuard[];
  /** The event written in the same write (none for bookkeeping that changes no status). */
  event?: string;
  /** What else happens with it (in the same write, or right after its commit). */
  effects: readonly string[];
}

/**
 * Every step status change, and the few step writes that keep the status (a takeover, a pending
 * agent, a heartbeat, a shared release, a far time gate). The engine names a transition; the
 * store derives its condition from here (DynamoDB: `#status IN (…) AND #attempt = :attempt …`;
 * in memory: the same checks), so no status condition is written twice. Rendered in
 * docs/ARCHITECTURE.md ("Step transitions"); a unit test keeps the two equal.
 */
export const stepTransitions = {
  queue: { from: ['pending'], to: 'queued', guard: [], event: 'step.queued', effects: ['roots, shared children, time-gated children and children of a paused run (the others are released by their claim: `claimReleased`)', 'message sent (delayed to its time gate; parked in the timers index when over 15 min)', 'DISPATCH timer unless the worker queues it (its redelivery re-releases)'] },
  release: { from: ['pending'], to: 'pending', guard: ['notReleasedBy'], effects: ['remaining - 1, parent added to releasedBy; the decrement that reaches 0 queues the step'] },
  claimReleased: { from: ['pending'], to: 'running', guard: ['attempt', 'singleParent'], event: 'step.started', effects: ['its release folded in: step.queued appended before step.started (the parent\'s completion is the record; its message was sent after it)', 'as claim'] },
  claim: { from: ['queued'], to: 'running', guard: ['attempt'], event: 'step.started', effects: ['attempt + 1', 'lease on the step, off the timers index (a DISPATCH timer goes; a dead worker is found by its message\'s redelivery)', 'callback token (http, lambda)'] },
  throttle: { from: ['queued'], to: 'throttled', guard: ['attempt'], event: 'step.throttled', effects: ['only while the scope is full or others wait (checked in the same write): into its waiting list (priority, then arrival), counted per rank on the slot item', 'THROTTLED timer at the first holder\'s lease end (the sweeper sends it then: a dead holder\'s slot is reclaimed)', 'a rate: no list; its turn in `throttle.until`, its message sent with a delay to it, THROTTLED timer 30 s after it'] },
  throttleReleased: { from: ['pending'], to: 'throttled', guard: ['attempt', 'singleParent'], event: 'step.throttled', effects: ['its release folded in: step.queued appended before step.throttled', 'as throttle'] },
  unthrottle: { from: ['throttled'], to: 'queued', guard: ['attempt'], event: 'step.unthrottled', effects: ['a freed slot handed over in the same write (only while the scope has room and no higher priority waits)', 'out of the waiting list', 'DISPATCH timer', 'message sent', 'a rate: its turn came (its own message), it starts in the same worker'] },
  takeover: { from: ['running'], to: 'running', guard: ['attempt', 'leaseExpired'], event: 'step.started', effects: ['attempt + 1 (takeover: true)', 'new lease', 'new callback token'] },
  park: { from: ['queued'], to: 'queued', guard: ['attempt'], effects: ['parked in the timers index until its time is within 15 min (the sweeper sends it)'] },
  complete: { from: ['running'], to: 'completed', guard: ['attempt'], event: 'step.completed', effects: ['output (S3 above 4 KB)', 'single-parent dependents sent their message after it, no write (claimReleased); time-gated ones queued', 'sink: out of its sink bucket (by the step worker: by its own write after it, shared by the sinks of one invocation; its redelivery recounts)', 'shared dependents released', 'last sink: run completed (again on a redelivery, if the worker died before)', 'not the worker (approve, callback, reaction): the step filed under a DISPATCH timer until its sends are done (the sweeper re-releases it)'] },
  approve: { from: ['needs_qa'], to: 'completed', guard: [], event: 'step.completed', effects: ['leaves the inbox', 'as complete'] },
  retry: { from: ['running'], to: 'queued', guard: ['attempt'], event: 'step.retrying', effects: ['message delayed by the backoff', 'DISPATCH timer due then (the sweeper re-sends a lost message)'] },
  wait: { from: ['running'], to: 'needs_qa', guard: ['attempt'], event: 'step.needs_qa', effects: ['into the inbox', 'deadline in the timers index (timeoutSeconds)', 'webhook wait filed (webhook kind)'] },
  pend: { from: ['running'], to: 'running', guard: ['attempt'], event: 'step.pending', effects: ['lease becomes the callback timer', 'delayed message at the timer'] },
  heartbeat: { from: ['running'], to: 'running', guard: ['attempt', 'waitingLive'], effects: ['callback timer pushed on'] },
  fail: { from: ['running'], to: 'failed', guard: ['attempt'], event: 'step.failed', effects: ['run blocked (failedSteps)', 'optional (onFailure continue): released like a completion (failedOptionalSteps)'] },
  reject: { from: ['needs_qa'], to: 'failed', guard: ['attempt'], event: 'step.failed', effects: ['leaves the inbox', 'as fail'] },
  stall: { from: ['running'], to: 'failed', guard: ['attempt'], event: 'step.failed', effects: ['NO_PROGRESS: the output repeats the last ones (its hash, `limits.noProgressAfter` times in a row); output not kept, the streak (`progress`) is', 'run blocked with reason NO_PROGRESS (failedSteps), `limit.exceeded`', 'only a run-again execution (re-run, retry) is checked: a first one costs nothing'] },
  deadLetter: { from: ['pending', 'queued', 'running'], to: 'failed', guard: ['asRead', 'attempt'], event: 'step.failed', effects: ['as fail'] },
  cancel: { from: ['pending', 'queued', 'throttled', 'running'], to: 'cancelled', guard: ['asRead', 'attempt'], event: 'step.cancelled', effects: ['none: its run ended (pending: a released child whose message arrived after)', 'throttled: out of its waiting list; a slot handed to it is given back'] },
  cancelWaiting: { from: ['needs_qa'], to: 'cancelled', guard: [], event: 'step.cancelled', effects: ['leaves the inbox'] },
  requeue: { from: ['failed'], to: 'queued', guard: [], event: 'step.retry_requested', effects: ['fresh attempts', 'new input raises the generation', 'comment removed', 'message sent', 'DISPATCH timer'] },
  skip: { from: ['pending', 'queued', 'throttled', 'needs_qa', 'blocked'], to: 'skipped', guard: ['asRead'], event: 'step.skipped', effects: ['leaves the inbox and the timers index'] },
  rerun: { from: ['completed', 'failed'], to: 'queued', guard: ['asRead'], event: 'step.rerun_requested', effects: ['a new generation (idempotency key)', 'fresh attempts', 'new input or guidance', 'output, error and comment cleared', 'run running again (rerun rule), with the downstream reset in the same write', 'message sent', 'DISPATCH timer'] },
  reset: { from: ['completed', 'failed', 'pending'], to: 'pending', guard: ['asRead'], event: 'step.reset', effects: ['downstream of a re-run: remaining counts the re-run steps it waits for', 'a new generation when it had run', 'fresh attempts', 'output, error and comment cleared'] },
  // Loops (shared/engine/loops.ts): a loop step whose output does not meet its `until` runs its body again.
  iterate: { from: ['running'], to: 'pending', guard: ['attempt'], event: 'step.iterated', effects: ['its output kept in the event (S3 above 4 KB), then cleared', 'a new generation', 'fresh attempts', 'iteration + 1', 'waits for its body parents again (queued instead when none is in the body: message sent, DISPATCH timer)', 'the body\'s first steps queued again (`rerun`) and the rest reset (`reset`) in the same write'] },
  // Quality gates (shared/engine/quality-gates.ts): a step with a `qa` policy (its own or the project's) is reviewed before it completes.
  review: { from: ['running'], to: 'needs_qa', guard: ['attempt'], event: 'step.needs_qa', effects: ['a gated step\'s execution done: output, artifacts and usage kept on the step, gate round 1', 'automatic reviewer: its message sent (the worker reviews inline; a lost one is its own message\'s redelivery); not the worker (a callback): DISPATCH timer until its reviewer starts (the sweeper re-sends a lost review message)', 'human reviewer: into the inbox'] },
  reviewStart: { from: ['needs_qa'], to: 'needs_qa', guard: ['attempt', 'gateRound', 'leaseFree'], effects: ['the reviewer\'s lease on the step (a dead reviewer is taken over when its message comes back)', 'gate round + 1', 'off the timers index (its DISPATCH timer goes)'] },
  pass: { from: ['needs_qa'], to: 'completed', guard: ['attempt', 'gateRound'], event: 'step.completed', effects: ['score at or above the threshold (recorded as feedback before it)', 'the reviewer\'s model calls added to llmUsage', 'leaves the inbox', 'as complete'] },
  qaPause: { from: ['needs_qa'], to: 'needs_qa', guard: ['attempt', 'gateRound'], event: 'step.needs_qa', effects: ['below the threshold (onBelow pause, or retries used up): feedback.critical with it', 'no score (the reviewer failed): the error kept on the gate', 'into the inbox: a person approves, rejects or re-runs it with guidance'] },
  qaRetry: { from: ['needs_qa'], to: 'queued', guard: ['attempt', 'gateRound'], event: 'step.retrying', effects: ['below the threshold, onBelow retry: feedback.critical with it', 'the reviewer\'s comment added to the input (guidance)', 'a new generation', 'fresh attempts', 'output cleared, gate retries + 1', 'message sent', 'DISPATCH timer'] },
  qaFail: { from: ['needs_qa'], to: 'failed', guard: ['attempt', 'gateRound'], event: 'step.failed', effects: ['below the threshold, onBelow fail: feedback.critical with it', 'as fail (QA_BELOW_THRESHOLD)'] },
  qaRerun: { from: ['needs_qa'], to: 'queued', guard: ['attempt'], event: 'step.rerun_requested', effects: ['a person\'s re-run of a step held at its gate (input or guidance)', 'a new generation', 'fresh attempts', 'output and gate cleared', 'leaves the inbox', 'message sent', 'DISPATCH timer'] },
} as const satisfies Record<string, StepTransition>;
export type StepTransitionName = keyof typeof stepTransitions;

/**
 * Run status changes the engine makes on its own (the actions a person takes are in
 * runActionRules). `hold` keeps the status: a step released while the run is paused is
 * remembered in heldSteps for `resume`.
 */
export const runTransitions = {
  block: { from: ['running'], to: 'blocked', event: 'run.blocked' },
  // Paused too: a paused run's last sink may finish (approved, called back, already running); nothing is left to resume.
  complete: { from: ['running', 'blocked', 'paused'], to: 'completed', event: 'run.completed' },
  completeEarly: { from: ['pending', 'running', 'paused', 'blocked'], to: 'completed', event: 'run.completed' },
  hold: { from: ['paused', 'pending'], to: 'unchanged', event: undefined },
  // Budgets (shared/engine/budgets.ts): a step that does not fit a strict budget blocks a running
  // run, or is only held by a run already blocked or paused; it waits in heldSteps for resume.
  budgetBlock: { from: ['running'], to: 'blocked', event: 'run.blocked' },
  budgetHold: { from: ['paused', 'blocked'], to: 'unchanged', event: 'budget.exceeded' },
  setBudget: { from: ['pending', 'running', 'paused', 'blocked'], to: 'unchanged', event: 'budget.changed' },
  // Limits (shared/engine/limits.ts): a step that would pass maxExecutedSteps, or start past
  // maxDurationSeconds, blocks a running run (MAX_EXECUTED_STEPS, MAX_DURATION) and waits in
  // heldSteps; a run already blocked or paused only holds it. The duration timer blocks a
  // running run with no step in hand. NO_PROGRESS is the step transition `stall`.
  limitBlock: { from: ['running'], to: 'blocked', event: 'run.blocked' },
  limitHold: { from: ['paused', 'blocked'], to: 'unchanged', event: 'limit.exceeded' },
  setLimits: { from: ['pending', 'running', 'paused', 'blocked'], to: 'unchanged', event: 'limits.changed' },
} as const satisfies Record<string, { from: readonly RunStatus[]; to: RunStatus | 'unchanged'; event: string | undefined }>;

/** The transitions table as markdown (docs/ARCHITECTURE.md holds this text; a unit test compares). */
export const stepTransitionsMarkdown = (): string =>
  [
    '| transition | from | to | guard | event | effects |',
    '| --- | --- | --- | --- | --- | --- |',
    ...Object.entries(stepTransitions).map(([name, rule]: [string, StepTransition]) =>
      `| \`${name}\` | ${rule.from.join(', ')} | ${rule.to} | ${rule.guard.join(', ') || '-'} | ${rule.event ?? '-'} | ${rule.effects.join('; ')} |`,
    ),
  ].join('\n');
