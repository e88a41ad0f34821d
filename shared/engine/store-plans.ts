/**
 * The shapes of the engine store's larger plan writes (a re-run, a quality gate's writes), kept
 * beside the port in store.ts, which re-exports them.
 */
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import type { Progress } from '#shared/domain/limits';
import type { GateState } from '#shared/domain/quality-gates';
import type { ArtifactRecord, StepRecord } from '#shared/store/runs';
import type { EventToWrite, Release } from './store';

/** A downstream step of a re-run, back to pending and waiting for the re-run steps it depends on. */
export interface StepReset {
  stepId: string;
  readStatus: StepRecord['status'];
  /** Dependencies it waits for again (those in the re-run); the others stay in releasedBy. */
  remaining: number;
  releasedBy: string[];
  /** Every dependent of the workflow's graph (a fork's reused steps kept fewer). */
  dependents: string[];
  generation: number;
  allowedAttempts: number;
  at: string;
  event: EventToWrite;
}

/** The write that re-runs a finished step: the step queued again, the run running, its last resets. */
export interface RerunPlan {
  runId: string;
  at: string;
  step: { stepId: string; readStatus: StepRecord['status']; generation: number; allowedAttempts: number; dependents: string[]; input?: { value: unknown }; guidance?: string; progress?: Progress; event: EventToWrite };
  resets: StepReset[];
  /**
   * `addSinks`: finished sinks re-run, counted again on the run item (runs from before sink
   * buckets, and sinks without a bucket); `reopenSinks`: the others, back into their buckets
   * (and each bucket open again on the run).
   */
  run: { addSinks: number; reopenSinks?: { bucket: number; sinks: string[] }[]; forget: string[]; event: EventToWrite };
}

/**
 * One write of a step's quality gate (shared/engine/quality-gates.ts), conditional on the row of
 * its transition: `review` (running → needs_qa, the execution's outcome kept), `reviewStart`
 * (the reviewer's lease), `qaPause` (waits for a person), `qaRetry` and `qaRerun` (→ queued, a
 * new execution).
 */
export interface GateWrite {
  transition: 'review' | 'reviewStart' | 'qaPause' | 'qaRetry' | 'qaRerun';
  runId: string;
  stepId: string;
  projectId: string;
  /** The attempt the writer read (every gate transition is guarded by it). */
  attempt: number;
  /** The gate round the writer read (gateRound guard). */
  round?: number;
  at: string;
  /** The gate's new state (policy included); absent: the gate is cleared (qaRerun). */
  gate?: GateState;
  /** reviewStart: the reviewer's lease. */
  leaseUntil?: string;
  /**
   * review by a function whose message is not redelivered (a callback): the step filed under
   * DISPATCH until its reviewer starts (reviewStart takes it off), so the sweeper re-sends a
   * review message that was never sent ("Lost sends").
   */
  dispatchDueAt?: string;
  /** Waits for a person: into the project's inbox, with what it waits for. */
  inbox?: { waitingFor: string };
  /** review: what the execution produced. */
  outcome?: { output?: unknown; outputRef?: string; artifacts?: ArtifactRecord[]; agentUsage?: unknown; usage?: unknown };
  /** The reviewer's own AWS usage added to the step's (its `usage` as it should now read). */
  usage?: unknown;
  /** Model calls to add to the step's llmUsage (the execution's, or the reviewer's). */
  llmUsage?: LlmUsageRecord[];
  /** qaRetry, qaRerun: the step runs afresh as a new execution. */
  requeue?: { generation: number; allowedAttempts: number; input?: { value: unknown }; guidance?: string; progress?: Progress };
}

/**
 * Steps a planner's output adds to its run (shared/engine/planner.ts), written with the planner's
 * completion (`Finish.plan`), all or none: the added steps as whole items (the plan's entries
 * queued, the others pending), the planner's former dependents waiting for the plan's exits
 * instead of it, the exits in the planner's sink bucket when it was a sink, the run's total.
 */
export interface PlanWrite {
  /** The planner's dependents from now on: the plan's entry steps. */
  plannerDependents: string[];
  /** Whole records; an entry is queued (with its release) and its step.queued event. */
  added: { step: StepRecord; release?: Release }[];
  /** The planner's former dependents (still pending): their dependencies now, and how many more they wait for (remaining + delta; `definedRemaining` where they have no item yet). */
  rewired: { stepId: string; dependsOn: string[]; definedRemaining: number; delta: number }[];
  /** The planner was a sink: its bucket takes the plan's exits (the planner leaves it by the usual sink count, after this write). */
  sinks?: { bucket: number; stepIds: string[] };
  /** run.planned. */
  event: EventToWrite;
}

/**
 * A loop's next iteration (shared/engine/loops.ts), in one write, all or none: the loop step
 * (still running at the attempt read) back to pending for its body parents, or queued when none is
 * in the body, as a new generation with fresh attempts and its iteration counted; the body's
 * first steps (completed) queued again as new generations (as a re-run's step); the rest of the
 * body reset to pending (as a re-run's downstream).
 */
export interface IterationPlan {
  runId: string;
  at: string;
  step: { stepId: string; attempt: number; queued: boolean; remaining: number; releasedBy: string[]; generation: number; allowedAttempts: number; iteration: number; progress?: Progress; events: EventToWrite[] };
  heads: { stepId: string; readStatus: StepRecord['status']; generation: number; allowedAttempts: number; event: EventToWrite }[];
  resets: StepReset[];
}
