import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import { createDocumentClient, createEventBridgeClient, createSecretsClient } from '#shared/clients/aws';
import { baseEnv, readConfig } from '#shared/config/env';
import { createAuthenticator } from '#shared/middleware/principal';
import { createEventOutbox } from '#shared/store/event-outbox';
import { createProjectStore } from '#shared/store/projects';
import { createApiHandler } from './routes';

const config = readConfig({
  ...baseEnv,
  TABLE_NAME: z.string().min(1),
  BUS_NAME: z.string().min(1),
  ADMIN_TOKEN_SECRET_ARN: z.string().min(1),
  CORS_ORIGINS: z.string().transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean)),
});

const logger = new Logger();
const documents = createDocumentClient();
const secrets = new SecretsProvider({ awsSdkV3Client: createSecretsClient() });
const projects = createProjectStore({ documents, tableName: config.TABLE_NAME });

export const handler = createApiHandler(
  {
    stage: config.BATON_STAGE,
    projects,
    outbox: createEventOutbox({ documents, bus: createEventBridgeClient(), tableName: config.TABLE_NAME, busName: config.BUS_NAME }),
    authenticate: createAuthenticator({
      findActiveToken: (token) => projects.findActiveToken(token),
      installationToken: async () => {
        const value = await secrets.get(config.ADMIN_TOKEN_SECRET_ARN, { maxAge: 300 });
        if (typeof value !== 'string' || !value) throw new Error('The installation admin token secret is empty');
        return value;
      },
    }),
  },
  { logger, corsOrigins: config.CORS_ORIGINS },
);
