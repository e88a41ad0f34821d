import type { z } from 'zod';
import { ValidationError } from '#shared/domain/errors';
import type { StepSpec } from '#shared/domain/workflow';
import { approvalExecutor } from '#shared/executors/approval';
import { crashExecutor } from '#shared/executors/crash';
import { httpExecutor } from '#shared/executors/http';
import { noopExecutor } from '#shared/executors/noop';
import { waitExecutor } from '#shared/executors/wait';
import { webhookExecutor } from '#shared/executors/webhook';
import type { Executor } from '#shared/executors/types';

/** The step kinds a deployment can run, and the check that a workflow uses them correctly. */
export interface ExecutorRegistry {
  get(kind: string): Executor | undefined;
  /** Known kinds, sorted. */
  kinds(): string[];
  /**
   * Throws a ValidationError naming the first step whose kind is unknown or whose input its
   * executor refuses (`body.steps[3].input.url: Invalid URL`). Steps marked done are checked too:
   * whether a definition is valid must not depend on the state of its steps.
   */
  validateInputs(steps: StepSpec[], where?: string): void;
}

export interface ExecutorRegistryOptions {
  /** Adds kinds that exist only to test the platform (`crash`); never on a deployed stage. */
  includeTestKinds?: boolean;
  /** More kinds (plugins such as `lambda` or `llm` that need clients); they replace built-ins of the same kind. */
  executors?: Executor[];
}

const builtIns: Executor[] = [noopExecutor, approvalExecutor, httpExecutor, waitExecutor, webhookExecutor];
const testKinds: Executor[] = [crashExecutor];

/** Builds the registry of executors by kind. */
export const createExecutorRegistry = ({ includeTestKinds = false, executors = [] }: ExecutorRegistryOptions = {}): ExecutorRegistry => {
  const byKind = new Map<string, Executor>(
    [...builtIns, ...(includeTestKinds ? testKinds : []), ...executors].map((executor) => [executor.kind, executor]),
  );
  const kinds = () => [...byKind.keys()].sort();
  return {
    get: (kind) => byKind.get(kind),
    kinds,
    validateInputs(steps, where = 'body.steps') {
      steps.forEach((step, index) => {
        const at = `${where}[${index}]`;
        const executor = byKind.get(step.kind);
        if (!executor) {
          throw new ValidationError(`${at}.kind: unknown step kind "${step.kind}"; known kinds: ${kinds().join(', ')}`, `${at}.kind`);
        }
        assertInput(executor, step, `${at}.input`);
      });
    },
  };
};

const assertInput = (executor: Executor, step: StepSpec, at: string): void => {
  const result = executor.input.safeParse(step.input);
  const issue = result.success ? executor.checkStep?.(result.data, { dependsOn: step.dependsOn ?? [] }) : result.error.issues[0];
  if (!issue && result.success) return;
  const field = at + formatPath(issue?.path ?? []);
  throw new ValidationError(`${field}: ${issue?.message ?? 'invalid'}`, field);
};

/** `['headers', 'X-Key']` → `.headers.X-Key`; array indices in brackets, as in `steps[3]`. */
const formatPath = (path: z.core.$ZodIssue['path'] | Array<string | number>): string =>
  path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`)).join('');
