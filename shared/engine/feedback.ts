import { ConflictError } from '#shared/domain/errors';
import type { FeedbackSource } from '#shared/domain/feedback';
import { newId } from '#shared/domain/ids';
import type { StepStatus } from '#shared/domain/states';
import type { CommittedEvent, EventOutbox } from '#shared/store/event-outbox';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runEvent } from './context';
import type { EventToWrite } from './store';

/**
 * Feedback on a step's work (issue 12 §3): a score 0-100 and a comment, from a person (through
 * the API, with their token) or from a reviewer (a quality gate's reviewer step, through the same
 * `record` with `source: "reviewer"` and the reviewing step named). Each record is kept under its
 * run; its workflow version keeps a count and a sum, so the average is one read.
 */

export interface FeedbackRecord {
  id: string;
  projectId: string;
  runId: string;
  stepId: string;
  /** The step's execution the score is about (a re-run is a new generation). */
  generation: number;
  workflowId: string;
  workflowVersion: number;
  score: number;
  comment?: string;
  source: FeedbackSource;
  /** Who recorded it: the token's actor for a person, the engine for a reviewer. */
  actor: string;
  /** A reviewer's own step (source reviewer), when it is one. */
  reviewerStepId?: string;
  at: string;
}

export interface FeedbackAverage {
  workflowId: string;
  version: number;
  count: number;
  averageScore: number;
}

/** Where feedback is kept: DynamoDB (shared/store/feedback.ts) or memory (shared/store/memory-feedback-store.ts). */
export interface FeedbackStore {
  /** The record, its version's count and sum, and its event, in one write. */
  record(feedback: FeedbackRecord, event: EventToWrite): Promise<CommittedEvent[]>;
  /** A run's feedback, oldest first; only one step's when `stepId` is given. */
  list(runId: string, stepId?: string): Promise<FeedbackRecord[]>;
  /** The average score of each version of a workflow that has feedback, oldest version first. */
  averages(projectId: string, workflowId: string): Promise<FeedbackAverage[]>;
}

/** A step's work exists to be judged once it ran to an outcome (or waits for a decision on it). */
const judgeable: readonly StepStatus[] = ['needs_qa', 'completed', 'failed'];

export interface FeedbackDeps {
  feedback: FeedbackStore;
  outbox: Pick<EventOutbox, 'publish'>;
  clock: () => Date;
}

/** Records one piece of feedback on a step and publishes its `feedback.recorded` event. */
export async function recordFeedback(
  deps: FeedbackDeps,
  run: RunRecord,
  step: StepRecord,
  input: { score: number; comment?: string; source: FeedbackSource; actor: string; reviewerStepId?: string },
): Promise<FeedbackRecord> {
  if (!judgeable.includes(step.status)) {
    throw new ConflictError(`Step ${step.stepId} is ${step.status}: feedback is for a step that ran (${judgeable.join(', ')})`, 'path.stepId');
  }
  const at = deps.clock();
  const feedback: FeedbackRecord = {
    id: newId('fbk', at.getTime()),
    projectId: run.projectId,
    runId: run.id,
    stepId: step.stepId,
    generation: generationOf(step),
    workflowId: run.workflowId,
    workflowVersion: run.workflowVersion,
    score: input.score,
    ...(input.comment ? { comment: input.comment } : {}),
    source: input.source,
    actor: input.actor,
    ...(input.reviewerStepId ? { reviewerStepId: input.reviewerStepId } : {}),
    at: at.toISOString(),
  };
  const { id: _id, projectId: _project, runId: _run, stepId: _step, at: _at, actor: _actor, ...detail } = feedback;
  const events = await deps.feedback.record(feedback, runEvent(run, 'feedback.recorded', input.actor, { feedbackId: feedback.id, ...detail }, at, step.stepId));
  await deps.outbox.publish(events);
  return feedback;
}
