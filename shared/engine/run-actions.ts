import { addUsage, usageFromItem } from '#shared/clients/usage-meter';
import { ConflictError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { illegalRunAction, runActionAllowed, type RunAction } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { cancelStranded, sendCancelChecks } from './cancel-run';
import { runEvent, type EngineDeps } from './context';
import type { EventToWrite } from './store';
import { applyEffects, mergeEffects, messageFor, type Effects } from './dispatch';
import { moveAndSendHeld } from './held-steps';
import { assertWithinDuration, fileRunDeadline } from './limits';
import { keptOutput } from './quality-gates';
import { startWithRoots, type StartMove } from './start-run';
import { sendStartJob, startsInBackground } from './background-start';
import { completeStep, failStep } from './step-outcomes';

const now = (deps: EngineDeps) => deps.clock();

/** Moves the run's status for an action (runActionRules); 409 when its status forbids it, also when it changed meanwhile. */
async function transitionRun(deps: EngineDeps, run: RunRecord, action: RunAction, actor: string, change: { held?: string[]; failed?: string[]; blocked?: string } = {}, made?: EventToWrite): Promise<CommittedEvent[]> {
  if (!runActionAllowed(action, run)) throw new ConflictError(illegalRunAction(action, run.status, run.failedSteps));
  const at = now(deps);
  const type = change.blocked ? 'run.blocked' : { start: 'run.started', pause: 'run.paused', resume: 'run.resumed', cancel: 'run.cancelled', retry: 'run.retried' }[action];
  const detail = { from: run.status, ...(change.blocked ? { reason: change.blocked } : {}) };
  const written = await deps.store.moveRun(run.id, action, at.toISOString(), change, made ?? runEvent(run, type, actor, detail, at));
  // A held step that failed meanwhile blocks the run as it resumes (held-steps.ts).
  if (written.won && change.blocked) deps.metrics.add('RunsBlocked', { reason: 'STEP_FAILED' });
  if (written.won) return written.events;
  const current = await deps.store.getRun(run.id);
  // Still allowed: what it read changed (a step failed or was held meanwhile).
  if (current && runActionAllowed(action, current)) throw new ConflictError(`Cannot ${action} run ${run.id} yet: it changed meanwhile; read it again`);
  throw new ConflictError(illegalRunAction(action, current?.status ?? run.status, current?.failedSteps));
}

/** pending → running, the roots queued first (start-run.ts); the run's duration limit filed after. */
/** The run's start move (pending → running) as start-run.ts and a background start (start-job.ts) make it. */
export const startMove = (deps: EngineDeps, run: RunRecord, actor: string): StartMove => (change, event) => transitionRun(deps, run, 'start', actor, change, event);

export async function startRun(deps: EngineDeps, run: RunRecord, actor: string): Promise<RunRecord> {
  if (!runActionAllowed('start', run)) throw new ConflictError(illegalRunAction('start', run.status, run.failedSteps));
  // Too many roots to queue within the request: the worker does it (background-start.ts); the run stays pending until then.
  if (await startsInBackground(deps, run)) return sendStartJob(deps, run, actor);
  const after = await startWithRoots(deps, run, actor, startMove(deps, run, actor));
  await fileRunDeadline(deps, after);
  return after;
}

/** Applies a run action (start, pause, resume, cancel, retry); 409 when the run's status forbids it. */
export async function runAction(
  deps: EngineDeps,
  run: RunRecord,
  action: RunAction,
  actor: string,
  body: { steps?: Record<string, { input?: unknown }> } = {},
): Promise<RunRecord> {
  if (action !== 'retry' && body.steps) throw new ValidationError('body.steps: only retry takes step inputs', 'body.steps');
  switch (action) {
    case 'start':
      return startRun(deps, run, actor);
    case 'pause':
      await applyEffects(deps, { dispatches: [], events: await transitionRun(deps, run, action, actor) });
      break;
    case 'cancel': {
      await sendCancelChecks(deps, run);
      const events = await transitionRun(deps, run, action, actor);
      await applyEffects(deps, { dispatches: [], events: [...events, ...(await cancelStranded(deps, run, actor))] });
      break;
    }
    case 'resume':
      assertWithinDuration(run, now(deps));
      await applyEffects(deps, await resume(deps, run, actor));
      break;
    case 'retry':
      assertWithinDuration(run, now(deps));
      await retry(deps, run, actor, body.steps ?? {});
      break;
  }
  const after = (await deps.store.getRun(run.id))!;
  // Running again: an idle run stops at its deadline too (a block took its timer off).
  if (action === 'resume' || action === 'retry') await fileRunDeadline(deps, after);
  return after;
}

/** paused or blocked → running, with the held steps; lost to a step held after the read (heldStepsUnchanged): again with it. */
async function resume(deps: EngineDeps, run: RunRecord, actor: string, round = 0): Promise<Effects> {
  try {
    return await moveAndSendHeld(deps, run, 'resume', actor, (change) => transitionRun(deps, run, 'resume', actor, change));
  } catch (error) {
    const current = await deps.store.getRun(run.id);
    if (!(error instanceof ConflictError) || !current || !runActionAllowed('resume', current) || round >= 3) throw error;
    return resume(deps, current, actor, round + 1);
  }
}

/**
 * blocked → running: each failed step is queued again with a fresh set of attempts (and a new
 * input when the body gives one), and the run goes on from there.
 */
async function retry(deps: EngineDeps, run: RunRecord, actor: string, inputs: Record<string, { input?: unknown }>, round = 0): Promise<void> {
  const failed = run.failedSteps ?? [];
  for (const stepId of Object.keys(inputs)) {
    if (!failed.includes(stepId)) {
      throw new ValidationError(`body.steps.${stepId}: only failed steps can be retried (failed: ${failed.join(', ') || 'none'})`, `body.steps.${stepId}`);
    }
  }
  const steps = await deps.store.getSteps(run.id, failed);
  for (const step of steps) {
    const replacement = inputs[step.stepId];
    if (replacement && 'input' in replacement) {
      if (!deps.stepKinds) throw new Error('No step kinds in this function: a retry with new inputs needs them to validate');
      const kind = deps.stepKinds.get(step.kind);
      const parsed = kind?.input.safeParse(replacement.input);
      // What the schema cannot say is checked too (e.g. an llm template naming a non-dependency).
      const issue = parsed && (parsed.success ? kind?.checkStep?.(parsed.data, { dependsOn: step.dependsOn }) : parsed.error.issues[0]);
      if (parsed && (issue || !parsed.success)) {
        const field = ['body', 'steps', step.stepId, 'input', ...(issue?.path ?? []).map(String)].join('.');
        throw new ValidationError(`${field}: ${issue?.message ?? 'invalid'}`, field);
      }
    }
  }
  if (!runActionAllowed('retry', run)) throw new ConflictError(illegalRunAction('retry', run.status, run.failedSteps));
  // The steps first (each marked for dispatch), then the run: if we die in between, the run is
  // still blocked with them listed, and a person's retry goes on from there.
  const effects: Effects = { dispatches: [], events: [] };
  const at = now(deps);
  for (const step of steps.filter((candidate) => candidate.status === 'failed')) {
    const replacement = inputs[step.stepId];
    const newInput = Boolean(replacement && 'input' in replacement);
    // New input, new execution: agents must not take it for a retry of the work they already did.
    const generation = generationOf(step) + (newInput ? 1 : 0);
    const event = runEvent(run, 'step.retry_requested', actor, { attempt: step.attempt + 1, generation, newInput }, at, step.stepId);
    const change = { at: at.toISOString(), allowedAttempts: step.attempt + step.retry.maxAttempts, generation, ...(replacement && 'input' in replacement ? { input: { value: replacement.input } } : {}) };
    const written = await deps.store.requeue(run.id, step.stepId, change, event);
    if (!written.won) continue;
    effects.events.push(...written.events);
    effects.dispatches.push(messageFor(step));
  }
  try {
    mergeEffects(effects, await moveAndSendHeld(deps, run, 'retry', actor, (change) => transitionRun(deps, run, 'retry', actor, { ...change, failed })));
  } catch (error) {
    // Another step failed (recorded alone: the run was blocked) or was held meanwhile: again, with it too.
    const current = await deps.store.getRun(run.id);
    if (!(error instanceof ConflictError) || current?.status !== 'blocked' || round >= 3) throw error;
    await applyEffects(deps, effects);
    return retry(deps, current, actor, {}, round + 1);
  }
  await applyEffects(deps, effects);
}

/**
 * approve: a step waiting in needs_qa completes (with the approver's output); reject: it fails and
 * the run blocks. A person's comment is kept on the step and in the event; without an output an
 * approval's output carries it to the dependents, and without a reason it is the rejection's.
 */
export async function stepAction(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  action: 'approve' | 'reject',
  actor: string,
  body: { output?: unknown; reason?: string; comment?: string },
): Promise<StepRecord> {
  if (step.status !== 'needs_qa') {
    throw new ConflictError(`Cannot ${action} step ${step.stepId}: it is ${step.status}, and only a step waiting in needs_qa can be ${action}d`);
  }
  const comment = body.comment || undefined;
  const reason = body.reason || comment;
  const effects =
    action === 'approve'
      ? await completeStep(deps, run, step, { status: 'completed', output: body.output ?? { approvedBy: actor, ...(comment ? { comment } : {}) } }, {
          actor,
          transition: 'approve',
          usage: addStoredUsage(deps, step.usage),
          comment,
          // A step held at its quality gate completes with what its execution produced, unless the approver gives an output.
          ...(step.gate && body.output === undefined ? { kept: keptOutput(step) } : {}),
        })
      : await failStep(deps, run, step, new NonRetryableStepError(`rejected${reason ? `: ${reason}` : ''}`, { code: 'REJECTED' }), { actor, transition: 'reject', comment });
  if (!effects) throw new ConflictError(`Step ${step.stepId} changed meanwhile; read it again`);
  await applyEffects(deps, effects);
  const updated = await deps.store.getStep(run.id, step.stepId);
  if (!updated) throw new NotFoundError('Step');
  return updated;
}

/** The usage a step already recorded plus what this request spent: a step's item holds its total. */
function addStoredUsage(deps: EngineDeps, stored: unknown) {
  const since = deps.usage.sinceCheckpoint();
  if (!since) return stored;
  return stored ? addUsage(usageFromItem(stored), since) : since;
}
