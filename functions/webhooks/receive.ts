import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import { createSecretsClient } from '#shared/clients/secrets-manager';
import { readConfig } from '#shared/config/env';
import { createEngine } from '#shared/clients/create-engine';
import { createProjectStore } from '#shared/store/projects';
import { createWebhookSecretStore, keyFromSecretsManager } from '#shared/store/webhook-secrets';
import { httpStack } from '#shared/middleware/http';
import { createMetering } from '#shared/middleware/metering';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { createWebhookReceiver } from './receiver';
import { CorrelatedLogger } from '#shared/middleware/correlation';

const config = readConfig({ WEBHOOK_KEY_SECRET_ARN: z.string().min(1) });
const logger = new CorrelatedLogger();
const engine = createEngine(logger);
const secrets = new SecretsProvider({ awsSdkV3Client: createSecretsClient() });

const receive = createWebhookReceiver({
  engine: engine.deps,
  projects: createProjectStore({ documents: engine.documents, tableName: engine.tableName }),
  secrets: createWebhookSecretStore({
    documents: engine.documents,
    tableName: engine.tableName,
    keySource: keyFromSecretsManager(secrets, config.WEBHOOK_KEY_SECRET_ARN),
  }),
  logger,
  metrics: engine.metrics,
});
// A delivery belongs to no run when it arrives (the reactions find the runs it moves, and charge
// them what that costs): the receiver's usage goes to its metrics only.
const metering = createMetering({ service: 'webhook-receiver', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

export const handler = httpStack((event) => metering.invocation(() => receive(event)), { logger, corsOrigins: [], parseJson: false, metrics: engine.metrics });
