import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ApiStack } from './stacks/api-stack';
import { consoleBucketName, ConsoleStack } from './stacks/console-stack';
import { DataStack } from './stacks/data-stack';
import { EngineStack } from './stacks/engine-stack';
import { MessagingStack } from './stacks/messaging-stack';
import { OperationsStack } from './stacks/operations-stack';
import { readStage, type Stage } from './stage';

export interface BatonStacks {
  data: DataStack;
  messaging: MessagingStack;
  engine: EngineStack;
  api: ApiStack;
  console: ConsoleStack;
  operations: OperationsStack;
}

/** Builds Baton's stacks for one stage; tests call this with their own App. */
export function buildBaton(app: App, stage: Stage): BatonStacks {
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const prefix = `Baton-${stage.name}`;
  const data = new DataStack(app, `${prefix}-Data`, { stage, env });
  const messaging = new MessagingStack(app, `${prefix}-Messaging`, { stage, env });
  const shared = { stage, env, table: data.table, bucket: data.artifacts, bucketAccess: data.artifactsAccess, bus: messaging.bus, stepQueue: messaging.stepQueue };
  const engine = new EngineStack(app, `${prefix}-Engine`, { ...shared, stepDlq: messaging.stepDlq, stepParked: messaging.stepParked, secretsKey: data.secretsKey });
  const webConsole = new ConsoleStack(app, `${prefix}-Console`, { stage, env });
  const api = new ApiStack(app, `${prefix}-Api`, {
    ...shared,
    schedules: { group: engine.scheduleGroupName, target: engine.scheduledStart, role: engine.schedulerRole },
    triggers: { target: engine.triggerStart },
    secretsKey: data.secretsKey,
    queues: { steps: messaging.stepQueue, 'steps-dlq': messaging.stepDlq, 'steps-parked': messaging.stepParked, 'reactions-dlq': engine.reactionsDlq },
    webConsole: { bucketName: consoleBucketName(stage), distribution: webConsole.distribution, origin: webConsole.origin },
  });
  const operations = new OperationsStack(app, `${prefix}-Operations`, {
    stage,
    env,
    queues: { steps: messaging.stepQueue, stepsDlq: messaging.stepDlq, stepsParked: messaging.stepParked, reactionsDlq: engine.reactionsDlq },
    functions: {
      worker: engine.worker,
      dlqHandler: engine.dlqHandler,
      sweeper: engine.sweeper,
      reactions: engine.reactions,
      scheduledStart: engine.scheduledStart,
      api: api.apiFunction,
      webhooks: api.webhookFunction,
    },
    api: api.api,
  });
  Tags.of(app).add('baton:stage', stage.name);
  return { data, messaging, engine, api, console: webConsole, operations };
}

/** Runs cdk-nag's AwsSolutions and Serverless packs over everything the app synthesizes. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true }));
}

const isEntryPoint = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntryPoint) {
  const app = new App();
  const stage = readStage({
    stage: app.node.tryGetContext('stage') ?? process.env.BATON_STAGE,
    corsOrigins: app.node.tryGetContext('corsOrigins') ?? process.env.BATON_CORS_ORIGINS,
    agentFunctions: app.node.tryGetContext('agentFunctions') ?? process.env.BATON_AGENT_FUNCTIONS,
    triggerBus: app.node.tryGetContext('triggerBus') ?? process.env.BATON_TRIGGER_BUS,
    alarmEmail: app.node.tryGetContext('alarmEmail') ?? process.env.BATON_ALARM_EMAIL,
  });
  buildBaton(app, stage);
  addNagChecks(app);
  app.synth();
}
