import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { meterUsage } from '#shared/clients/usage-meter';
import { z } from 'zod';
import { createSsmClient } from '#shared/clients/aws';
import { readConfig } from '#shared/config/env';
import { apiUrlFromParameter } from '#shared/engine/api-url';
import { agentEnv, createEngine, secretsEnv } from '#shared/engine/create-engine';
import { processStepMessage } from '#shared/engine/step-worker';
import { stepMessage } from '#shared/schemas/messages';

const logger = new Logger();
const config = readConfig({ ...agentEnv, API_URL_PARAMETER: z.string().startsWith('/') });
const secrets = readConfig(secretsEnv);
const { deps } = createEngine(logger, process.env, {
  agents: { allowedFunctions: config.AGENT_FUNCTIONS, functionArnPrefix: config.AGENT_FUNCTION_ARN_PREFIX },
  secretsKeyArn: secrets.SECRETS_KEY_ARN,
  callbackBaseUrl: apiUrlFromParameter(createSsmClient(), config.API_URL_PARAMETER, process.env.AWS_ENDPOINT_URL || undefined),
  // A record stays unacknowledged until its releases are sent; its redelivery re-releases.
  releasesRecoveredByRedelivery: true,
});
const processor = new BatchProcessor(EventType.SQS);

/**
 * Step queue consumer. Records of a batch run in parallel; a record whose processing throws is
 * reported as a partial batch failure, so SQS redelivers it (and after 5 receives dead-letters
 * it) while the rest of the batch is deleted.
 */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  processPartialResponse(
    event,
    async (record: SQSRecord) => {
      const message = stepMessage.parse(JSON.parse(record.body));
      const { result, usage } = await meterUsage(() => processStepMessage(deps, message, Date.now() + context.getRemainingTimeInMillis()));
      logger.info('step message processed', { ...message, result, receiveCount: record.attributes.ApproximateReceiveCount, calls: usage.calls });
    },
    processor,
    { context, processInParallel: true },
  );
