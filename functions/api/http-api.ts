import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import { createKmsClient } from '#shared/clients/kms';
import { createSchedulerClient } from '#shared/clients/scheduler';
import { createSecretsClient } from '#shared/clients/secrets-manager';
import { createSchedules } from '#shared/store/schedules';
import { createEventBridgeClient } from '#shared/clients/eventbridge';
import { createTriggers } from '#shared/store/triggers';
import { baseEnv, readConfig } from '#shared/config/env';
import { createEngine } from '#shared/clients/create-engine';
import { createStepKindRegistry } from '#shared/executors/registry';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { createFeedbackStore } from '#shared/store/feedback';
import { createAuthenticator } from '#shared/middleware/principal';
import { kmsSecretCipher } from '#shared/store/kms-secret-cipher';
import { createProjectSecretStore } from '#shared/store/project-secrets';
import { createProjectStore } from '#shared/store/projects';
import { createRateLimiter } from '#shared/store/rate-limiter';
import { createWebhookSecretStore, keyFromSecretsManager } from '#shared/store/webhook-secrets';
import { createQueueAdmin } from '#shared/clients/queue-admin';
import { createSqsClient } from '#shared/clients/sqs';
import { queueNames } from '#shared/domain/queues';
import { createApiHandler } from './routes';
import { CorrelatedLogger } from '#shared/middleware/correlation';

const config = readConfig({
  ...baseEnv,
  ADMIN_TOKEN_SECRET_ARN: z.string().min(1),
  WEBHOOK_KEY_SECRET_ARN: z.string().min(1),
  SECRETS_KEY_ARN: z.string().min(1),
  SCHEDULE_GROUP: z.string().min(1),
  SCHEDULE_TARGET_ARN: z.string().min(1),
  SCHEDULE_ROLE_ARN: z.string().min(1),
  CORS_ORIGINS: z.string().transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean)),
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(1),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1),
  CHECK_RESPONSES: z.enum(['true', 'false']).transform((value) => value === 'true'),
  MAX_SCHEDULES_PER_PROJECT: z.coerce.number().int().min(1),
  TRIGGER_BUS: z.string().min(1),
  TRIGGER_RULE_PREFIX: z.string().min(1),
  TRIGGER_TARGET_ARN: z.string().min(1),
  MAX_TRIGGERS_PER_PROJECT: z.coerce.number().int().min(1),
  // The installation's queues for the /v1/queues routes: [{name, url, arn}] as JSON.
  QUEUES: z
    .string()
    .transform((value) => JSON.parse(value) as unknown)
    .pipe(z.array(z.strictObject({ name: z.enum(queueNames), url: z.string().min(1), arn: z.string().min(1) }))),
});

const logger = new CorrelatedLogger();
// The step kinds' validation halves only: the API validates steps and runs none (their executors are the worker's).
// loseTestSends: the lost-send e2e test's injection; a no-op unless TEST_EXECUTORS is on.
const engine = createEngine(logger, process.env, { stepKinds: createStepKindRegistry, loseTestSends: true });
const stepKinds = engine.deps.stepKinds!;
const secrets = new SecretsProvider({ awsSdkV3Client: createSecretsClient() });
const projects = createProjectStore({ documents: engine.documents, tableName: engine.tableName });

export const handler = createApiHandler(
  {
    stage: config.BATON_STAGE,
    projects,
    outbox: engine.deps.outbox,
    workflows: engine.workflows,
    engine: { ...engine.deps, stepKinds },
    runs: engine.runs,
    artifacts: engine.artifacts,
    feedback: createFeedbackStore({ documents: engine.documents, tableName: engine.tableName }),
    runUsage: createRunUsageRecorder(engine),
    projectCounters: createProjectCounterStore(engine),
    schedules: createSchedules({
      documents: engine.documents,
      tableName: engine.tableName,
      scheduler: createSchedulerClient(),
      group: config.SCHEDULE_GROUP,
      targetArn: config.SCHEDULE_TARGET_ARN,
      roleArn: config.SCHEDULE_ROLE_ARN,
      maxPerProject: config.MAX_SCHEDULES_PER_PROJECT,
    }),
    triggers: createTriggers({
      documents: engine.documents,
      tableName: engine.tableName,
      rules: { client: createEventBridgeClient(), bus: config.TRIGGER_BUS, rulePrefix: config.TRIGGER_RULE_PREFIX, targetArn: config.TRIGGER_TARGET_ARN },
      maxPerProject: config.MAX_TRIGGERS_PER_PROJECT,
    }),
    webhookSecrets: createWebhookSecretStore({
      documents: engine.documents,
      tableName: engine.tableName,
      keySource: keyFromSecretsManager(secrets, config.WEBHOOK_KEY_SECRET_ARN),
    }),
    secrets: createProjectSecretStore({ documents: engine.documents, tableName: engine.tableName, cipher: kmsSecretCipher(createKmsClient(), config.SECRETS_KEY_ARN) }),
    queues: createQueueAdmin({
      sqs: createSqsClient(),
      queues: config.QUEUES,
      stepError: async (runId, stepId) => (await engine.deps.store.getRunAndStep(runId, stepId)).step?.error,
      emulatorEndpoint: process.env.AWS_ENDPOINT_URL || undefined,
    }),
    rateLimiter: createRateLimiter({ documents: engine.documents, tableName: engine.tableName }),
    defaultRateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    checkResponses: config.CHECK_RESPONSES,
    authenticate: createAuthenticator({
      findActiveToken: (token) => projects.findActiveToken(token),
      installationToken: async () => {
        const value = await secrets.get(config.ADMIN_TOKEN_SECRET_ARN, { maxAge: 300 });
        if (typeof value !== 'string' || !value) throw new Error('The installation admin token secret is empty');
        return value;
      },
    }),
  },
  { logger, corsOrigins: config.CORS_ORIGINS, metrics: engine.metrics },
);
