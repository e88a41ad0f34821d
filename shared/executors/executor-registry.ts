import { approvalExecutor } from '#shared/executors/approval';
import { crashExecutor } from '#shared/executors/crash';
import { httpExecutor } from '#shared/executors/http';
import { mapExecutor } from '#shared/executors/map';
import { noopExecutor } from '#shared/executors/noop';
import { createKindRegistry, type ExecutorRegistry } from '#shared/executors/registry';
import { waitExecutor } from '#shared/executors/wait';
import { webhookExecutor } from '#shared/executors/webhook';
import type { Executor } from '#shared/executors/types';

export type { ExecutorRegistry } from '#shared/executors/registry';

export interface ExecutorRegistryOptions {
  /** Adds kinds that exist only to test the platform (`crash`); never on a deployed stage. */
  includeTestKinds?: boolean;
  /** More kinds (plugins such as `lambda` or `llm` that need clients); they replace built-ins of the same kind. */
  executors?: Executor[];
}

const builtIns: Executor[] = [noopExecutor, approvalExecutor, httpExecutor, waitExecutor, webhookExecutor, mapExecutor];
const testKinds: Executor[] = [crashExecutor];

/**
 * Builds the registry of the kinds that run (the step worker's; see registry.ts for why it is
 * apart from the validation half every other function loads).
 */
export const createExecutorRegistry = ({ includeTestKinds = false, executors = [] }: ExecutorRegistryOptions = {}): ExecutorRegistry =>
  createKindRegistry([...builtIns, ...(includeTestKinds ? testKinds : []), ...executors]);
