import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { createDocumentClient } from '#shared/clients/dynamodb';
import { createEventBridgeClient } from '#shared/clients/eventbridge';
import { createS3Client } from '#shared/clients/s3';
import { createSqsClient } from '#shared/clients/sqs';
import { readConfig } from '#shared/config/env';
import type { ExecutorRegistry, StepKindRegistry } from '#shared/executors/registry';
import { createArtifactStore } from '#shared/store/artifacts';
import { createEventOutbox } from '#shared/store/event-outbox';
import { createFeedbackStore } from '#shared/store/feedback';
import { createProjectStore } from '#shared/store/projects';
import { createProjectSecretStore, type SecretCipher } from '#shared/store/project-secrets';
import { createRunStore } from '#shared/store/runs';
import { createWorkflowStore } from '#shared/store/workflows';
import type { EngineDeps } from '#shared/engine/context';
import { withLostTestSends } from '#shared/engine/dispatch-markers';
import { cachedProjectSettings } from '#shared/engine/project-settings';
import { countedEngineStore } from '#shared/store/counted-engine-store';
import { createDynamoEngineStore } from '#shared/store/engine-store';
import { createInvocationMetrics } from '#shared/middleware/baton-metrics';
import { createDispatcher } from './step-dispatcher';
import { usageSinceCheckpoint } from './usage-meter';
import { annotateTrace, currentTraceId } from '#shared/middleware/tracer';

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

/** What createEngine has built that a registry of step kinds or executors may need. */
export interface KindSetup {
  documents: DynamoDBDocumentClient;
  tableName: string;
  /** TEST_EXECUTORS: the kinds that exist only to test the platform (`crash`), local stage only. */
  includeTestKinds: boolean;
}

/**
 * What only some functions need comes in as options, so the others' bundles leave it out: the
 * step worker's executors (undici, Ajv, the Lambda and Bedrock clients: shared/clients/step-executors.ts),
 * its KMS cipher; the API's step kinds (the validation halves).
 */
export interface EngineOptions {
  /** The API's: every kind's input schema and checks (createStepKindRegistry), to validate a retry's new inputs. */
  stepKinds?: (setup: KindSetup) => StepKindRegistry;
  /** The step worker's: the kinds that run, with their clients (stepExecutors); no other function runs a step. */
  executors?: (setup: KindSetup) => ExecutorRegistry;
  /** The step worker's project secrets cipher (it may decrypt); without it a step that references a secret fails with SECRETS_UNAVAILABLE. */
  secretsCipher?: SecretCipher;
  /** The step worker's: the API's base URL for callback URLs (see EngineDeps.callbackBaseUrl). */
  callbackBaseUrl?: () => Promise<string>;
  /** The step worker's: its releases are recovered by its message's redelivery, so they carry no dispatch marker (EngineDeps). */
  releasesRecoveredByRedelivery?: boolean;
  /** The step worker's: how many of its records are being processed now; its sinks' bucket writes wait for all of them (createSinkBucketWriter). */
  recordsInFlight?: () => number;
  /** The scope a step run inline gets (the step worker: its log keys and trace subsegment). */
  stepScope?: EngineDeps['stepScope'];
  /**
   * Test only, and only where TEST_EXECUTORS is on (the local stage): drop the messages of steps
   * whose id starts with `lost-send-`, as if the function died after its commit (dispatch-markers.ts).
   */
  loseTestSends?: boolean;
}

/** Builds the engine with real adapters (DynamoDB, SQS, EventBridge, S3), once per cold start. */
export function createEngine(logger: Logger, env: Record<string, string | undefined> = process.env, { stepKinds, executors, secretsCipher, callbackBaseUrl, releasesRecoveredByRedelivery, recordsInFlight, loseTestSends, stepScope }: EngineOptions = {}) {
  const config = readConfig(engineEnv, env);
  const documents = createDocumentClient();
  const tableName = config.TABLE_NAME;
  const runs = createRunStore({ documents, tableName });
  const projects = createProjectStore({ documents, tableName });
  const artifacts = createArtifactStore({ s3: createS3Client(), bucket: config.BUCKET_NAME });
  const setup: KindSetup = { documents, tableName, includeTestKinds: config.TEST_EXECUTORS };
  // Recorded by the engine during an invocation, written by the function's publishMetrics middleware.
  const metrics = createInvocationMetrics(env);
  const dispatcher = createDispatcher({ sqs: createSqsClient(), queueUrl: config.STEP_QUEUE_URL });
  const deps: EngineDeps = {
    // Counting as it writes: the projects' counters (Prometheus) come from the writes it wins.
    store: countedEngineStore(createDynamoEngineStore({ documents, tableName, ...(recordsInFlight ? { recordsInFlight } : {}) })),
    dispatcher: config.TEST_EXECUTORS && loseTestSends ? withLostTestSends(dispatcher) : dispatcher,
    outbox: createEventOutbox({ documents, bus: createEventBridgeClient(), tableName: config.TABLE_NAME, busName: config.BUS_NAME }),
    artifacts,
    mapObjects: artifacts.mapObjects,
    feedback: createFeedbackStore({ documents, tableName }),
    ...(stepKinds ? { stepKinds: stepKinds(setup) } : {}),
    ...(executors ? { executors: executors(setup) } : {}),
    ...(secretsCipher ? { secrets: createProjectSecretStore({ documents, tableName: config.TABLE_NAME, cipher: secretsCipher }) } : {}),
    logger,
    metrics,
    clock: () => new Date(),
    usage: { sinceCheckpoint: usageSinceCheckpoint },
    allowPrivateTargets: config.ALLOW_PRIVATE_TARGETS,
    projectSettings: cachedProjectSettings(async (projectId) => (await projects.get(projectId))?.settings),
    defaultStepTimeoutSeconds: config.DEFAULT_STEP_TIMEOUT_SECONDS,
    maxStepTimeoutSeconds: config.MAX_STEP_TIMEOUT_SECONDS,
    leaseMarginSeconds: config.LEASE_MARGIN_SECONDS,
    ...(callbackBaseUrl ? { callbackBaseUrl } : {}),
    ...(releasesRecoveredByRedelivery ? { releasesRecoveredByRedelivery } : {}),
    ...(stepScope ? { stepScope } : {}),
    traceStep: (step) => {
      annotateTrace(step);
      return currentTraceId();
    },
  };
  // The engine sees its ports only; the functions' other stores (API listings, projects, schedules, run usage) get the client.
  return { deps, metrics, workflows: createWorkflowStore({ documents, tableName }), documents, tableName, runs, artifacts };
}
