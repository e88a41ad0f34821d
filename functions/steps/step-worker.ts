import { z } from 'zod';
import { bedrockConverse } from '#shared/clients/bedrock-runtime';
import { createKmsClient } from '#shared/clients/kms';
import { lambdaInvoke } from '#shared/clients/lambda';
import { createSsmClient } from '#shared/clients/ssm';
import { readConfig } from '#shared/config/env';
import { apiUrlFromParameter } from '#shared/clients/api-url';
import { agentEnv, createEngine, secretsEnv } from '#shared/clients/create-engine';
import { stepExecutors } from '#shared/clients/step-executors';
import { deadLetterAttribute, resumeRedriven } from '#shared/engine/redrive';
import { invocationRunReads, type RunReads } from '#shared/engine/run-reads';
import { createWorkflowExecutor, type SubWorkflowDeps } from '#shared/engine/sub-workflows';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import { processStartJob } from '#shared/engine/start-job';
import { CorrelatedLogger, withCorrelation } from '#shared/middleware/correlation';
import { createMetering } from '#shared/middleware/metering';
import { sqsStack } from '#shared/middleware/sqs';
import { traceRecord } from '#shared/middleware/tracer';
import { stepMessage, stepMessageCorrelation } from '#shared/schemas/messages';
import { kmsSecretCipher } from '#shared/store/kms-secret-cipher';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';

const logger = new CorrelatedLogger();
const config = readConfig({ ...agentEnv, API_URL_PARAMETER: z.string().startsWith('/') });
const secrets = readConfig(secretsEnv);
/** Records of this instance being processed now (an invocation's batch): its sinks' bucket writes wait for them. */
let recordsInFlight = 0;
/** What `workflow` steps start their child runs with: the engine, built below (after its executors). */
const subWorkflows: { deps?: SubWorkflowDeps } = {};
const engine = createEngine(logger, process.env, {
  // Only this function runs steps: only its bundle carries the executors and their clients.
  executors: stepExecutors({
    agents: { allowedFunctions: config.AGENT_FUNCTIONS, functionArnPrefix: config.AGENT_FUNCTION_ARN_PREFIX, invoke: lambdaInvoke() },
    converse: bedrockConverse(),
    more: [createWorkflowExecutor(() => subWorkflows.deps!)],
  }),
  secretsCipher: kmsSecretCipher(createKmsClient(), secrets.SECRETS_KEY_ARN),
  callbackBaseUrl: apiUrlFromParameter(createSsmClient(), config.API_URL_PARAMETER, process.env.AWS_ENDPOINT_URL || undefined),
  // A record stays unacknowledged until its releases are sent; its redelivery re-releases.
  releasesRecoveredByRedelivery: true,
  recordsInFlight: () => recordsInFlight,
  // A dependent run inline gets the keys and trace subsegment its own message would have had,
  // and its own line, as a step that came through the queue does.
  stepScope: (message, work) => {
    const correlation = stepMessageCorrelation(message);
    return withCorrelation(correlation, () =>
      traceRecord('step', correlation, async () => {
        const result = await work();
        logger.info('step message processed', { result, inline: true });
        return result;
      }),
    );
  },
});
const { deps } = engine;
// A child run's roots are sent by the step's execution, which is no release: they get markers.
subWorkflows.deps = { ...deps, releasesRecoveredByRedelivery: false, workflows: engine.workflows };
// One set of run reads per invocation (its Lambda context): shared by the records of its batch.
const runReads = new WeakMap<object, RunReads>();
const readsOf = (context: object): RunReads => {
  if (!runReads.has(context)) runReads.set(context, invocationRunReads(deps.store));
  return runReads.get(context)!;
};
const metering = createMetering({ service: 'step-worker', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

/**
 * Step queue consumer. Records of a batch run in parallel; a record whose processing throws (or
 * whose body is not a step message) is reported as a partial batch failure, so SQS redelivers
 * it (and after 5 receives dead-letters it) while the rest of the batch is deleted.
 */
export const handler = sqsStack({
  logger,
  metering,
  metrics: engine.metrics,
  body: stepMessage,
  unreadable: 'fail',
  processInParallel: true,
  runsOf: (message) => [message.runId],
  correlationOf: stepMessageCorrelation,
  handle: async (message, record, context) => {
    // A dead letter an operator redrove from steps-parked: its step was failed, so resume the run.
    if (record.messageAttributes?.[deadLetterAttribute]) {
      logger.info('redriven dead letter', { ...message, result: await resumeRedriven(deps, message) });
      return;
    }
    recordsInFlight += 1;
    // A big run's background start (shared/engine/start-job.ts), or a step.
    const processing = message.start ? processStartJob(deps, message.runId, message.start) : processStepMessage(deps, message, Date.now() + context.getRemainingTimeInMillis(), 0, readsOf(context), Number(record.attributes.SentTimestamp) || undefined);
    const result = await processing.finally(() => {
      recordsInFlight -= 1;
    });
    // runId, stepId, attempt and requestId come with every line of the record (correlationOf).
    logger.info('step message processed', { ...(message.start ? { start: message.start } : {}), result, receiveCount: record.attributes.ApproximateReceiveCount });
  },
});
