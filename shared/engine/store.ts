import type { LifecycleEvent } from '#shared/domain/events';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import type { RunAction } from '#shared/domain/states';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { GateState } from '#shared/domain/quality-gates';
import type { ArtifactRecord, RunRecord, StepErrorRecord, StepRecord } from '#shared/store/runs';
import type { Progress } from '#shared/domain/limits';
import type { BudgetLedger } from './budgets';
import type { LimitLedger } from './limits';
import type { CapacityStore } from './capacity';
import type { RateStore } from './rate';
import type { GateWrite, IterationPlan, PlanWrite, RerunPlan, StepReset } from './store-plans';
import type { MapStore } from './map-store';

export type { GateWrite, IterationPlan, PlanWrite, RerunPlan, StepReset } from './store-plans';

/**
 * The engine's storage port: one named operation per thing the engine means to do, each
 * answering won (with the events it committed, to publish) or lost (the item was not in the
 * state the operation requires: someone else moved it first). Conditions come from the
 * transitions table (shared/domain/states.ts); how items are laid out is the adapter's business.
 * Adapters: DynamoDB (shared/store/engine-store.ts) and in memory (shared/store/memory-engine-store.ts),
 * with the same semantics; the engine's unit tests run on the second.
 */
export type Written = { won: true; events: CommittedEvent[] } | { won: false };

/**
 * An event to write with a change. `publish`: for the bus (isPublishedOnBus). `inFeed`: in the
 * project feed although not for the bus (isInProjectFeed). An event that is neither is kept in
 * its step's history only.
 */
export interface EventToWrite {
  event: LifecycleEvent;
  publish: boolean;
  inFeed?: boolean;
}
export const lost: Written = { won: false };

/** A step leaving pending: queued now, gated until `notBefore`, parked in the timers index when that is far. */
export interface Release {
  stepId: string;
  queuedAt: string;
  notBefore?: string;
  parked: boolean;
  /** Filed under a DISPATCH timer due then, so the sweeper re-sends it if its message is lost (absent: the worker's own releases, recovered by its redelivery). */
  dispatchDueAt?: string;
  event: EventToWrite;
}

/**
 * What a finishing write (completed, or failed but optional) does beside the step. Its
 * single-parent children are not written: the finish is their release, their messages are sent
 * after it and their claim (`claimReleased`) records it.
 */
export interface Finish {
  /**
   * A sink (no dependents) counted in the same write: out of its bucket's pending sinks
   * (`bucket`), or, for a run created before sink buckets, the run's `remainingSinks` - 1. Absent
   * for a sink the step worker counts after its write (`finishSinks`: its redelivery recounts).
   */
  sink?: { bucket?: number };
  /** A planner's completion: the steps its plan adds, in the same write (store-plans.ts PlanWrite). */
  plan?: PlanWrite;
  /** A map's child: the run is not touched (its map's chunk counts it, after the write). */
  mapChild?: true;
}

/** A step's new record and why it is being written: the fields of its final write. */
export interface Completion {
  runId: string;
  stepId: string;
  transition: 'complete' | 'approve' | 'pass';
  attempt: number;
  /** `pass`: the gate round the reviewer's verdict was reached in (its output is already on the step), and the gate as it ends. */
  gateRound?: number;
  gate?: GateState;
  finishedAt: string;
  output?: unknown;
  outputRef?: string;
  artifacts?: ArtifactRecord[];
  agentUsage?: unknown;
  usage?: unknown;
  /** A person's comment (approve). */
  comment?: string;
  llmUsage: LlmUsageRecord[];
  /** Files the finished step under a DISPATCH timer due then: its follow-up is redone if the writer dies before it (FinishPlan.marker). */
  dispatchDueAt?: string;
}

export interface Failure {
  runId: string;
  stepId: string;
  transition: 'fail' | 'reject' | 'deadLetter' | 'stall' | 'qaFail';
  /** The status the step was read in (deadLetter's `asRead` guard). */
  readStatus: StepRecord['status'];
  attempt: number;
  /** `qaFail`: the gate round of the verdict, and the gate as it ends. */
  gateRound?: number;
  gate?: GateState;
  finishedAt: string;
  error: StepErrorRecord;
  usage?: unknown;
  /** A person's comment (reject). */
  comment?: string;
  llmUsage: LlmUsageRecord[];
  /** As Completion's (an optional step's failure releases like a completion). */
  dispatchDueAt?: string;
  /** A NO_PROGRESS stop (`stall`): the streak the step keeps for its next execution. */
  progress?: Progress;
}

/** A due time the sweeper acts on (the timers index). */
export type TimerKind = 'lease' | 'notBefore' | 'deadline' | 'callback' | 'dispatch' | 'throttled';
export interface DueTimer {
  runId: string;
  stepId: string;
  status: string;
  attempt: number;
  dueAt: string;
  waitingFor?: string;
  notBefore?: string;
}

/** The step execution a callback token is bound to. */
export interface CallbackRecord {
  projectId: string;
  runId: string;
  stepId: string;
  attempt: number;
}

export interface EngineStore {
  // --- Reads (strongly consistent: the engine decides on them) ---
  getRun(runId: string): Promise<RunRecord | undefined>;
  getStep(runId: string, stepId: string): Promise<StepRecord | undefined>;
  getRunAndStep(runId: string, stepId: string): Promise<{ run?: RunRecord; step?: StepRecord }>;
  /** `eventually`: an eventually consistent read will do (a finished step's output never changes). */
  getSteps(runId: string, stepIds: string[], options?: { eventually?: boolean }): Promise<StepRecord[]>;
  listSteps(runId: string): Promise<StepRecord[]>;
  /**
   * Steps as the run's workflow version defines them, without reading their items: what a step
   * with no item reads as (cached per run; no read once the run's definition is at hand). Only
   * for deciding what a conditional write then checks (`claim`'s `unborn`, planFinish).
   */
  definedSteps(run: RunRecord, stepIds: string[]): Promise<StepRecord[]>;
  /** The ids of the run's roots as its version defines them: what `start` queues when the run item names none (over maxRootsOnRun). */
  definedRoots(run: RunRecord): Promise<string[]>;
  findIdempotencyRecord(projectId: string, key: string): Promise<{ runId: string; requestHash?: string } | undefined>;
  findCallback(tokenHash: string): Promise<CallbackRecord | undefined>;

  // --- Runs ---
  /**
   * A new run's steps as its definition says (before the run: until it commits nothing refers to
   * them). Only those already done (plan rows marked done, a fork's reused steps) are written; the
   * others, roots included, are born at their first write and read as their definition until then (pending).
   */
  putSteps(steps: StepRecord[]): Promise<void>;
  /** Writes a new run's sink buckets (shared/domain/sink-buckets.ts), before the run like its steps. */
  putSinkBuckets(runId: string, buckets: string[][]): Promise<void>;
  /**
   * Finished sinks out of their bucket's pending sinks (idempotent: a sink gone already changes
   * nothing); the write that leaves the bucket empty takes it off the run's `openSinkBuckets`
   * (idempotent too). Answers true when the run has no open bucket left: its last sink is done.
   */
  finishSinks(runId: string, bucket: number, stepIds: string[]): Promise<boolean>;
  /** The run, its idempotency record (lost when the key is taken), its branch mapping and its event, together. */
  createRun(run: RunRecord, extra: { idempotency?: { key: string; requestHash?: string; expiresAt: number }; branchExpiresAt?: number; usage?: unknown; event: EventToWrite }): Promise<Written>;
  /**
   * A person's run action (runActionRules): start, pause, resume (forgets `held`), cancel, retry (forgets `failed` and the reason).
   * resume and retry hold only while the run holds exactly the steps `held` (as read: a step held since is not forgotten unsent).
   * `blocked` (resume only): the run goes to blocked with this reason instead (a step failed for good while it was paused).
   */
  moveRun(runId: string, action: RunAction, at: string, change: { held?: string[]; failed?: string[]; blocked?: string }, event: EventToWrite): Promise<Written>;
  /** A step released while the run is paused (or not started): remembered for `resume`. */
  hold(runId: string, stepId: string): Promise<Written>;
  /** The last sink is done (no open sink bucket, no `remainingSinks`): the run completes (degraded when optional steps failed); one caller wins. */
  completeRun(runId: string, at: string, degraded: boolean, event: EventToWrite): Promise<Written>;
  /** Completes an open run before its steps are done (a merge); `reason` recorded. */
  completeRunEarly(runId: string, at: string, reason: string, event: EventToWrite): Promise<Written>;

  // --- Steps (each named in stepTransitions) ---
  /** pending → queued, all or none (the caller goes one by one when some moved). */
  queue(runId: string, releases: Release[]): Promise<Written>;
  /**
   * A shared dependent's decrement by one parent; `remaining` is what is left after it.
   * `readRemaining`: its count as read, which a step with no item yet counts down from.
   */
  release(runId: string, stepId: string, parentId: string, readRemaining: number): Promise<{ won: true; remaining: number } | { won: false }>;
  /** queued → running, pending → running for a released single-parent child, or a takeover of an expired lease: the write that makes an attempt run once. */
  claim(
    runId: string,
    stepId: string,
    claim: {
      transition: 'claim' | 'takeover' | 'claimReleased';
      readAttempt: number;
      at: string;
      leaseUntil: string;
      callback?: CallbackRecord & { tokenHash: string; expiresAt: number };
      /** claimReleased: the release's `step.queued`, recorded before the start in the same write. */
      queued?: EventToWrite;
      /**
       * claimReleased of a step that was not read (its definition stood in for it): lost unless
       * the step has no item yet, in which case it is exactly its definition.
       */
      unborn?: boolean;
    },
    event: EventToWrite,
  ): Promise<Written>;
  /** A queued step gated further ahead than a queue delay reaches: into the timers index. */
  park(runId: string, stepId: string, attempt: number, notBefore: string): Promise<Written>;
  /** The sweeper sent a parked step: off the timers index. */
  unpark(runId: string, stepId: string): Promise<void>;
  /** running/needs_qa → completed, with the sink counted (`finish`) and a DISPATCH timer on the step when the plan says. */
  complete(completion: Completion, finish: Finish, event: EventToWrite): Promise<Written>;
  /**
   * → failed. `block`: the run is blocked with this reason (lost when the run is not running);
   * `finish`: an optional step, released like a completion; neither: the failure alone.
   */
  fail(failure: Failure, outcome: { block?: { reason: string; event: EventToWrite }; finish?: Finish }, event: EventToWrite): Promise<Written>;
  /** running → queued after a failed attempt, its message due after the backoff (`dispatchDueAt`, a DISPATCH timer). */
  retry(runId: string, stepId: string, change: { attempt: number; at: string; dispatchDueAt: string; error: StepErrorRecord; llmUsage: LlmUsageRecord[] }, event: EventToWrite): Promise<Written>;
  /** running → needs_qa: into the inbox, with its deadline and (webhook kind) its correlation wait. */
  wait(step: StepRecord, at: string, change: { reason: string; deadline?: string; correlationKey?: string }, event: EventToWrite): Promise<Written>;
  /** running, waiting for the agent's callback: the lease becomes the callback timer. */
  pend(runId: string, stepId: string, attempt: number, change: { at: string; deadline: string; dueAt: string; usage?: unknown }, event: EventToWrite): Promise<Written>;
  /** The agent is alive: the callback timer moves to `dueAt` (lost when the wait ran out or ended). */
  heartbeat(runId: string, stepId: string, attempt: number, at: string, dueAt: string): Promise<Written>;
  /** → cancelled: the worker's (its run ended; attempt and status as read) or a waiting step's (its run was cancelled). */
  cancel(runId: string, stepId: string, change: { transition: 'cancel' | 'cancelWaiting'; readStatus: StepRecord['status']; attempt: number; at: string }, event: EventToWrite): Promise<Written>;
  /** failed → queued by a person's retry: fresh attempts, maybe a new input and generation; the rejection's comment goes (the events keep it). */
  requeue(runId: string, stepId: string, change: { at: string; allowedAttempts: number; generation: number; input?: { value: unknown }; mapRound?: number }, event: EventToWrite): Promise<Written>;
  /** Files held steps (queued, or running: held at a dead worker's takeover) under a DISPATCH timer due `dueAt`; others are left alone. */
  markForDispatch(runId: string, stepIds: string[], dueAt: string): Promise<void>;
  /** Downstream steps of a re-run back to pending (`reset`), all or none, each from the status it was read in: the chunks before the last (rerun-step.ts). */
  resetSteps(runId: string, resets: StepReset[]): Promise<Written>;
  /** A finished step runs again (`rerun`) and the run with it (rules' `rerun`), with the last chunk of its downstream's resets: all or none. */
  rerun(plan: RerunPlan): Promise<Written>;
  /** A loop's next iteration (`iterate`, with its body's `rerun`s and `reset`s): all or none (store-plans.ts IterationPlan). */
  iterate(plan: IterationPlan): Promise<Written>;
  /** A quality gate's write (review, reviewStart, qaPause, qaRetry, qaRerun; its pass and fail are `complete` and `fail`). */
  gate(change: GateWrite, events: EventToWrite[]): Promise<Written>;
  /** → skipped, all or none, each only from the status it was read in. */
  skip(runId: string, steps: { stepId: string; readStatus: StepRecord['status']; event: EventToWrite }[], at: string): Promise<Written>;

  // --- Webhook deliveries ---
  /** A verified delivery, once per delivery id (lost: a duplicate), with its event. */
  recordDelivery(delivery: { projectId: string; provider: string; deliveryId: string; receivedAt: string; expiresAt: number }, event: EventToWrite): Promise<Written>;
  markDeliveryHandled(projectId: string, provider: string, deliveryId: string, at: string, report: unknown): Promise<void>;
  branchRuns(projectId: string, repository: string, branch: string): Promise<string[]>;
  forgetBranchRun(projectId: string, repository: string, branch: string, runId: string): Promise<void>;
  webhookWaits(projectId: string, correlationKey: string): Promise<{ runId: string; stepId: string }[]>;
  forgetWebhookWait(projectId: string, correlationKey: string, runId: string, stepId: string): Promise<void>;

  // --- The sweeper's indexes ---
  /** Events committed but not yet marked published. */
  unpublishedEvents(limit: number): Promise<CommittedEvent[]>;
  /** Timers of one kind due at or before `before`. */
  dueTimers(kind: TimerKind, before: string, limit: number): Promise<DueTimer[]>;
  /** A re-sent step's DISPATCH timer moves to `dueAt` (only while it is still queued, or held running, at that attempt). */
  moveDispatchMarker(runId: string, stepId: string, attempt: number, dueAt: string): Promise<void>;
  /** A DISPATCH timer of a step that moved on without a claim (cancelled, skipped…) or whose release's sends are done is taken off (only while in that status). */
  clearDispatchMarker(runId: string, stepId: string, status: string): Promise<void>;

  // --- Budgets: ledgers, reservations, budget blocks (shared/engine/budgets.ts) ---
  budgets: BudgetLedger;

  // --- Limits: execution counter, limit blocks, the duration timer (shared/engine/limits.ts) ---
  limits: LimitLedger;
  // --- Fair capacity: slots, waiting lists, throttled steps (shared/engine/capacity.ts) ---
  capacity: CapacityStore;
  // --- Rate limits: turns and starts per key, rate-throttled steps (shared/engine/rate.ts) ---
  rate: RateStore;
  // --- Map steps: the map's record, its chunks' counters, its children (shared/engine/map-step.ts) ---
  maps: MapStore;
}

/** At most this many steps in one `queue`, `skip` or finishing write (a DynamoDB transaction holds 100 items: a step and its event each). */
export const stepsPerWrite = 45;
