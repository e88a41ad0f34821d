import type { SecretRef } from '#shared/domain/secrets';
import { classify, NonRetryableStepError, RetryableStepError, type StepError } from '#shared/domain/step-errors';
import { waitingKinds } from '#shared/domain/workflow';
import { generationOf } from '#shared/store/runs';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { StepContext, StepOutcome } from '#shared/executors/types';
import type { EngineDeps } from './context';

/**
 * How long an attempt may run: its timeoutSeconds, never more than the stage allows (a workflow
 * saved under a larger limit included); a waiting kind's timeoutSeconds bounds its wait instead.
 */
export const runTimeoutOf = (deps: EngineDeps, step: StepRecord): number =>
  Math.min(waitingKinds.includes(step.kind) ? deps.defaultStepTimeoutSeconds : (step.timeoutSeconds ?? deps.defaultStepTimeoutSeconds), deps.maxStepTimeoutSeconds);

/**
 * Runs a claimed attempt's executor within its timeout; never throws: a failure comes back
 * classified (retryable or not, DESIGN §3.5).
 */
export async function executeStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  timeoutSeconds: number,
  callback: StepContext['callback'],
  /** A reviewer's execution (quality-gates.ts): its own idempotency key, and the output it reviews as its dependency. */
  override?: Pick<StepContext, 'idempotencyKey' | 'dependencyOutputs'>,
): Promise<StepOutcome | StepError> {
  if (!deps.executors) throw new Error('No executors in this function: only the step worker runs steps');
  const executor = deps.executors.get(step.kind);
  if (!executor) return new NonRetryableStepError(`No executor for step kind "${step.kind}"`, { code: 'UNKNOWN_KIND' });
  const input = executor.input.safeParse(step.input);
  if (!input.success) return new NonRetryableStepError(`Invalid input: ${input.error.issues[0]?.message ?? 'invalid'}`, { code: 'INVALID_INPUT' });

  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new RetryableStepError(`Step timed out after ${timeoutSeconds}s`, { code: 'TIMEOUT' }));
    }, timeoutSeconds * 1000);
  });
  try {
    const context: StepContext = {
      projectId: run.projectId,
      runId: run.id,
      stepId: step.stepId,
      attempt: step.attempt,
      generation: generationOf(step),
      // The same for every attempt of this execution (automatic retries, takeovers): DESIGN §3.2.
      idempotencyKey: override?.idempotencyKey ?? `${run.id}:${step.stepId}:${generationOf(step)}`,
      runInput: run.input,
      dependencyOutputs: override?.dependencyOutputs ?? (executor.ignoresDependencyOutputs ? {} : await dependencyOutputs(deps, run.id, step.dependsOn)),
      deadlineMs: timeoutSeconds * 1000,
      ...(callback ? { callback } : {}),
      allowPrivateTargets: deps.allowPrivateTargets,
      projectSettings: await deps.projectSettings(run.projectId),
      resolveSecret: secretResolver(deps, run.projectId),
      signal: controller.signal,
    };
    return await Promise.race([executor.run(input.data, context), timedOut]);
  } catch (error) {
    return classify(error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves project secrets for one attempt: each name is read and decrypted once, and the values
 * live only in this closure, which ends with the attempt (never cached across invocations, so a
 * secret replaced or deleted counts from the next attempt on).
 */
function secretResolver(deps: EngineDeps, projectId: string): (ref: SecretRef) => Promise<string> {
  const values = new Map<string, Promise<string>>();
  return (ref) => {
    let value = values.get(ref.$secret);
    if (!value) {
      value = revealSecret(deps, projectId, ref.$secret);
      values.set(ref.$secret, value);
    }
    return value;
  };
}

async function revealSecret(deps: EngineDeps, projectId: string, name: string): Promise<string> {
  if (!deps.secrets) throw new NonRetryableStepError('project secrets are not available to this function', { code: 'SECRETS_UNAVAILABLE' });
  const value = await deps.secrets.reveal(projectId, name);
  if (value === undefined) {
    // Checked when the workflow was saved: it has been deleted since. Retrying cannot bring it back.
    throw new NonRetryableStepError(
      `the project has no secret "${name}" (deleted since the workflow was saved?): set it with PUT /v1/projects/${projectId}/secrets/${name} and retry the run`,
      { code: 'SECRET_NOT_FOUND' },
    );
  }
  return value;
}

/**
 * The outputs of a step's dependencies, by id; an optional dependency that failed for good
 * (`onFailure: "continue"`) stands as `{failed: true, error}` so the step can do without it.
 */
async function dependencyOutputs(deps: EngineDeps, runId: string, ids: string[]): Promise<Record<string, unknown>> {
  if (ids.length === 0) return {};
  const steps = await deps.store.getSteps(runId, ids, { eventually: true });
  const entries = await Promise.all(
    steps.map(async (step) => {
      if (step.status === 'failed') return [step.stepId, { failed: true, error: step.error ?? null }] as const;
      return [step.stepId, step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : step.output] as const;
    }),
  );
  return Object.fromEntries(entries);
}
