import { createExecutorRegistry, type ExecutorRegistry } from '#shared/executors/executor-registry';
import { createHttpExecutor } from '#shared/executors/http';
import { createLambdaExecutor, type InvokeFunction } from '#shared/executors/lambda';
import { createLlmExecutor, type Converse } from '#shared/executors/llm';
import { createHttpCache } from '#shared/store/http-cache';
import type { Executor } from '#shared/executors/types';
import type { KindSetup } from './create-engine';

/** The step worker's agent settings and the invoker of `lambda` steps. */
export interface AgentFunctions {
  allowedFunctions: string[];
  functionArnPrefix: string;
  invoke: InvokeFunction;
}

/**
 * The executors with everything running a step takes (undici's guarded connections, Ajv, the
 * Lambda invoker, Bedrock's Converse, the http cache): the step worker's EngineOptions.executors.
 * Only the worker imports this module, so only its bundle carries them.
 */
export const stepExecutors =
  ({ agents, converse, more = [] }: { agents: AgentFunctions; converse: Converse; /** Kinds built by the worker itself (`workflow`). */ more?: Executor[] }) =>
  ({ documents, tableName, includeTestKinds }: KindSetup): ExecutorRegistry =>
    createExecutorRegistry({
      includeTestKinds,
      executors: [createLambdaExecutor(agents), createLlmExecutor({ converse }), createHttpExecutor({ cache: createHttpCache({ documents, tableName }) }), ...more],
    });
