import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { createDocumentClient } from '#shared/clients/dynamodb';
import { createEventBridgeClient } from '#shared/clients/eventbridge';
import { createS3Client } from '#shared/clients/s3';
import { createSqsClient } from '#shared/clients/sqs';
import { readConfig } from '#shared/config/env';
import { createLambdaExecutor, type InvokeFunction } from '#shared/executors/lambda';
import { createLlmExecutor, type Converse } from '#shared/executors/llm';
import { createHttpExecutor } from '#shared/executors/http';
import { createExecutorRegistry } from '#shared/executors/registry';
import { createArtifactStore } from '#shared/store/artifacts';
import { createEventOutbox } from '#shared/store/event-outbox';
import { createProjectStore } from '#shared/store/projects';
import { createProjectSecretStore, type SecretCipher } from '#shared/store/project-secrets';
import { createHttpCache } from '#shared/store/http-cache';
import { createRunStore } from '#shared/store/runs';
import { createWorkflowStore } from '#shared/store/workflows';
import type { EngineDeps } from '#shared/engine/context';
import { withLostTestSends } from '#shared/engine/dispatch-markers';
import { cachedProjectSettings } from '#shared/engine/project-settings';
import { createDynamoEngineStore } from '#shared/store/engine-store';
import { createDispatcher } from './step-dispatcher';
import { usageSinceCheckpoint } from './usage-meter';

const flag = z.enum(['true', 'false']).transform((value) => value === 'true');

/** What every engine-running function needs in its environment (set by BatonFunction.useEngine). */
export const engineEnv = {
  TABLE_NAME: z.string().min(1),
  BUS_NAME: z.string().min(1),
  BUCKET_NAME: z.string().min(1),
  STEP_QUEUE_URL: z.string().min(1),
  ALLOW_PRIVATE_TARGETS: flag,
  TEST_EXECUTORS: flag,
  DEFAULT_STEP_TIMEOUT_SECONDS: z.coerce.number().int().min(1),
  MAX_STEP_TIMEOUT_SECONDS: z.coerce.number().int().min(1),
  LEASE_MARGIN_SECONDS: z.coerce.number().int().min(0),
};

/** What only the step worker is given (BatonFunction.useAgentFunctions): the agent functions it may invoke. */
export const agentEnv = {
  AGENT_FUNCTIONS: z.string().min(1).transform((value) => value.split(',').filter(Boolean)),
  AGENT_FUNCTION_ARN_PREFIX: z.string().regex(/^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:$/),
};

/** What only the step worker is given (BatonFunction.useSecretsKey 'decrypt'): the key project secrets are encrypted with. */
export const secretsEnv = {
  SECRETS_KEY_ARN: z.string().min(1),
};

/**
 * The clients only the step worker needs come in as options (built from `#shared/clients/lambda`,
 * `bedrock-runtime` and `kms`), so the other functions' bundles do not take in those SDK packages.
 */
export interface EngineOptions {
  /** The step worker's agent settings and invoker; without them `lambda` steps are only validated, never invoked. */
  agents?: { allowedFunctions: string[]; functionArnPrefix: string; invoke: InvokeFunction };
  /** The step worker's Bedrock Converse; without it an `llm` step on Bedrock fails (only the worker runs steps). */
  converse?: Converse;
  /** The step worker's project secrets cipher (it may decrypt); without it a step that references a secret fails with SECRETS_UNAVAILABLE. */
  secretsCipher?: SecretCipher;
  /** The step worker's: the API's base URL for callback URLs (see EngineDeps.callbackBaseUrl). */
  callbackBaseUrl?: () => Promise<string>;
  /** The step worker's: its releases are recovered by its message's redelivery, so they carry no dispatch marker (EngineDeps). */
  releasesRecoveredByRedelivery?: boolean;
  /**
   * Test only, and only where TEST_EXECUTORS is on (the local stage): drop the messages of steps
   * whose id starts with `lost-send-`, as if the function died after its commit (dispatch-markers.ts).
   */
  loseTestSends?: boolean;
}

const notHere = (what: string) => async (): Promise<never> => {
  throw new Error(`${what} is not available in this function: only the step worker runs steps`);
};

/** Builds the engine with real adapters (DynamoDB, SQS, EventBridge, S3), once per cold start. */
export function createEngine(logger: Logger, env: Record<string, string | undefined> = process.env, { agents, converse, secretsCipher, callbackBaseUrl, releasesRecoveredByRedelivery, loseTestSends }: EngineOptions = {}) {
  const config = readConfig(engineEnv, env);
  const lambda = createLambdaExecutor({
    invoke: agents?.invoke ?? notHere('Lambda Invoke'),
    allowedFunctions: agents?.allowedFunctions ?? [],
    functionArnPrefix: agents?.functionArnPrefix ?? '',
  });
  const documents = createDocumentClient();
  const tableName = config.TABLE_NAME;
  const runs = createRunStore({ documents, tableName });
  const projects = createProjectStore({ documents, tableName });
  const artifacts = createArtifactStore({ s3: createS3Client(), bucket: config.BUCKET_NAME });
  const dispatcher = createDispatcher({ sqs: createSqsClient(), queueUrl: config.STEP_QUEUE_URL });
  const deps: EngineDeps = {
    store: createDynamoEngineStore({ documents, tableName }),
    dispatcher: config.TEST_EXECUTORS && loseTestSends ? withLostTestSends(dispatcher) : dispatcher,
    outbox: createEventOutbox({ documents, bus: createEventBridgeClient(), tableName: config.TABLE_NAME, busName: config.BUS_NAME }),
    artifacts,
    executors: createExecutorRegistry({ includeTestKinds: config.TEST_EXECUTORS, executors: [lambda, createLlmExecutor({ converse: converse ?? notHere('Bedrock Converse') }), createHttpExecutor({ cache: createHttpCache({ documents, tableName: config.TABLE_NAME }) })] }),
    ...(secretsCipher ? { secrets: createProjectSecretStore({ documents, tableName: config.TABLE_NAME, cipher: secretsCipher }) } : {}),
    logger,
    clock: () => new Date(),
    usage: { sinceCheckpoint: usageSinceCheckpoint },
    allowPrivateTargets: config.ALLOW_PRIVATE_TARGETS,
    projectSettings: cachedProjectSettings(async (projectId) => (await projects.get(projectId))?.settings),
    defaultStepTimeoutSeconds: config.DEFAULT_STEP_TIMEOUT_SECONDS,
    maxStepTimeoutSeconds: config.MAX_STEP_TIMEOUT_SECONDS,
    leaseMarginSeconds: config.LEASE_MARGIN_SECONDS,
    ...(callbackBaseUrl ? { callbackBaseUrl } : {}),
    ...(releasesRecoveredByRedelivery ? { releasesRecoveredByRedelivery } : {}),
  };
  // The engine sees its ports only; the functions' other stores (API listings, projects, schedules, run usage) get the client.
  return { deps, workflows: createWorkflowStore({ documents, tableName }), documents, tableName, runs, artifacts };
}
