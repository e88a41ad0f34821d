import type { z } from 'zod';
import { ValidationError } from '#shared/domain/errors';
import { reviewedOutputName, ungatedKinds } from '#shared/domain/quality-gates';
import type { MapInput } from '#shared/domain/map-step';
import type { StepSpec } from '#shared/domain/workflow';
import { approvalExecutor } from '#shared/executors/approval';
import { crashExecutor } from '#shared/executors/crash';
import { httpKind } from '#shared/executors/http-input';
import { lambdaKind } from '#shared/executors/lambda';
import { llmKind } from '#shared/executors/llm-input';
import { checkableTemplate, mapExecutor } from '#shared/executors/map';
import { noopExecutor } from '#shared/executors/noop';
import { waitExecutor } from '#shared/executors/wait';
import { webhookExecutor } from '#shared/executors/webhook';
import { workflowKind } from '#shared/executors/workflow-input';
import type { Executor, StepKind } from '#shared/executors/types';

/**
 * The step kinds a deployment knows by name, and the check that a workflow uses them correctly.
 * Two of them exist: every kind's validation half here (light: zod and pure rules, what the API
 * needs), and the step worker's executors (executor-registry.ts: with undici, Ajv and the
 * clients), so that only the function that runs steps bundles what running them takes.
 */
export interface KindRegistry<Kind extends StepKind = StepKind> {
  get(kind: string): Kind | undefined;
  /** Known kinds, sorted. */
  kinds(): string[];
  /**
   * Throws a ValidationError naming the first step whose kind is unknown or whose input its
   * kind refuses (`body.steps[3].input.url: Invalid URL`). Steps marked done are checked too:
   * whether a definition is valid must not depend on the state of its steps.
   */
  validateInputs(steps: StepSpec[], where?: string): void;
}

/** Every kind's input schema and checks: where workflows and a retry's new inputs are validated. */
export type StepKindRegistry = KindRegistry<StepKind>;
/** The kinds that can run: the step worker's. */
export type ExecutorRegistry = KindRegistry<Executor>;

export interface StepKindRegistryOptions {
  /** Adds kinds that exist only to test the platform (`crash`); never on a deployed stage. */
  includeTestKinds?: boolean;
}

/** The waiting and instant kinds are light whole (no client, no network): they are their own validation half. */
const builtInKinds: StepKind[] = [noopExecutor, approvalExecutor, httpKind, waitExecutor, webhookExecutor, lambdaKind, llmKind, mapExecutor, workflowKind];
const testKinds: StepKind[] = [crashExecutor];

/** Builds the registry of every kind's validation half (the API's). */
export const createStepKindRegistry = ({ includeTestKinds = false }: StepKindRegistryOptions = {}): StepKindRegistry =>
  createKindRegistry([...builtInKinds, ...(includeTestKinds ? testKinds : [])]);

/** A registry of the given kinds by name; a later kind replaces an earlier one of the same name. */
export const createKindRegistry = <Kind extends StepKind>(list: Kind[]): KindRegistry<Kind> => {
  const byKind = new Map<string, Kind>(list.map((kind) => [kind.kind, kind]));
  const kinds = () => [...byKind.keys()].sort();
  return {
    get: (kind) => byKind.get(kind),
    kinds,
    validateInputs(steps, where = 'body.steps') {
      steps.forEach((step, index) => {
        const at = `${where}[${index}]`;
        const kind = byKind.get(step.kind);
        if (!kind) {
          throw new ValidationError(`${at}.kind: unknown step kind "${step.kind}"; known kinds: ${kinds().join(', ')}`, `${at}.kind`);
        }
        assertInput(kind, step, `${at}.input`);
        if (step.kind === 'map') assertMapTemplate(byKind, step.input as MapInput, `${at}.input.step`);
        if (step.qa) assertQa(byKind, step, `${at}.qa`);
      });
    },
  };
};

/**
 * A step's quality gate: only on kinds that execute work (not approval, webhook, wait), and an
 * automatic reviewer's input valid for its kind, with the reviewed output as its dependency
 * `output` (and the step's own id): 400 naming the field.
 */
export const assertQa = (byKind: { get(kind: string): StepKind | undefined }, step: Pick<StepSpec, 'id' | 'kind' | 'qa'>, at: string): void => {
  if (!step.qa) return;
  if (ungatedKinds.includes(step.kind)) throw new ValidationError(`${at}: a ${step.kind} step executes nothing to review; quality gates are for steps that run work`, at);
  assertReviewer(byKind, step.qa.reviewer, [reviewedOutputName, step.id], `${at}.reviewer`);
};

/** An automatic reviewer's input checked as its kind's (templates may name `dependencies.output` and the listed ids). */
export const assertReviewer = (byKind: { get(kind: string): StepKind | undefined }, reviewer: NonNullable<StepSpec['qa']>['reviewer'], dependsOn: string[], at: string): void => {
  if (reviewer === 'human') return;
  const kind = byKind.get(reviewer.kind);
  if (!kind) throw new ValidationError(`${at}.kind: this deployment has no ${reviewer.kind} kind`, `${at}.kind`);
  assertInput(kind, { input: reviewer.input, dependsOn }, `${at}.input`);
};

/** A map's template: a kind this deployment has, and (when it does not depend on the item) an input that kind takes. */
const assertMapTemplate = (byKind: { get(kind: string): StepKind | undefined }, input: MapInput, at: string): void => {
  const kind = byKind.get(input.step.kind);
  if (!kind) throw new ValidationError(`${at}.kind: this deployment has no ${input.step.kind} kind`, `${at}.kind`);
  if (checkableTemplate(input)) assertInput(kind, { input: input.step.input, dependsOn: [] }, `${at}.input`);
};

const assertInput = (kind: StepKind, step: Pick<StepSpec, 'input' | 'dependsOn'>, at: string): void => {
  const result = kind.input.safeParse(step.input);
  const issue = result.success ? kind.checkStep?.(result.data, { dependsOn: step.dependsOn ?? [] }) : result.error.issues[0];
  if (!issue && result.success) return;
  const field = at + formatPath(issue?.path ?? []);
  throw new ValidationError(`${field}: ${issue?.message ?? 'invalid'}`, field);
};

/** `['headers', 'X-Key']` → `.headers.X-Key`; array indices in brackets, as in `steps[3]`. */
const formatPath = (path: z.core.$ZodIssue['path'] | Array<string | number>): string =>
  path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`)).join('');
