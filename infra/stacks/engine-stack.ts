import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { eventSource } from '#shared/domain/events';
import { BatonFunction, type EngineResources } from '../constructs/baton-function';
import { triggerRulePrefix, type Stage } from '../stage';

/** The ARN of every trigger rule of the stage (rules on `default` have no bus in their ARN). */
export const triggerRuleArnPattern = (stage: Stage): string =>
  `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${stage.triggerBus === 'default' ? '' : `${stage.triggerBus}/`}${triggerRulePrefix(stage)}*`;

export interface EngineStackProps extends StackProps, EngineResources {
  stepDlq: IQueue;
  /** Where the DLQ handler parks the dead letters it recorded (steps-parked). */
  stepParked: IQueue;
  /** Project secrets: the worker decrypts them at the moment of a call. */
  secretsKey: IKey;
}

/** The workflow engine's consumers: the step worker on the step queue and the DLQ handler on its DLQ. */
export class EngineStack extends Stack {
  readonly worker: BatonFunction;
  readonly dlqHandler: BatonFunction;
  readonly sweeper: BatonFunction;
  readonly scheduledStart: BatonFunction;
  /** The role EventBridge Scheduler invokes scheduled-start with. */
  readonly schedulerRole: Role;
  readonly scheduleGroupName: string;
  /** Started by the EventBridge rules of `eventbridge` triggers (created at run time by the API). */
  readonly triggerStart: BatonFunction;
  readonly reactions: BatonFunction;
  /** Sub-workflows: a child run ended, its parent step completes or fails. */
  readonly childFinished: BatonFunction;
  /** Where `webhook.received` events the reactions could not handle are parked (after retries). */
  readonly reactionsDlq: Queue;

  constructor(scope: Construct, id: string, { stage, table, bucket, bucketAccess, bus, stepQueue, stepDlq, stepParked, secretsKey, ...props }: EngineStackProps) {
    super(scope, id, props);
    const engine = { table, bucket, bucketAccess, stepQueue, bus, stage };

    this.worker = new BatonFunction(this, 'StepWorkerFunction', {
      entry: 'functions/steps/step-worker.ts',
      stage,
      description: 'Baton step worker: claims, executes and records steps from the step queue',
      timeout: Duration.seconds(stage.timing.workerTimeoutSeconds),
    })
      .useEngine(engine)
      .useAgentFunctions(stage)
      .useSecretsKey(secretsKey, 'decrypt')
      .useApiUrlParameter(stage);
    // llm steps call Bedrock's Converse (bedrock:InvokeModel) on foundation models and on
    // inference profiles; a cross-region profile routes to the model in other regions, hence `*`.
    this.worker.addToRolePolicy(
      new PolicyStatement({
        actions: ['bedrock:InvokeModel'],
        resources: [
          // Pseudo parameters rather than the stack's env, so the statement (and its cdk-nag
          // acknowledgement below) reads the same whether or not the stack is bound to an account.
          `arn:${Aws.PARTITION}:bedrock:*::foundation-model/*`,
          `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/*`,
        ],
      }),
    );
    for (const resource of ['arn:<AWS::Partition>:bedrock:*::foundation-model/*', 'arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*']) {
      // On the role: its default policy holds the statement.
      Validations.of(this.worker.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason: 'The models an llm step calls are named in workflows created at run time; the grant is InvokeModel only, on models and inference profiles.',
      });
    }
    this.worker.addEventSource(
      new SqsEventSource(stepQueue, { batchSize: 10, reportBatchItemFailures: true, ...(stage.isLocal ? {} : { maxConcurrency: 50 }) }),
    );

    this.dlqHandler = new BatonFunction(this, 'DlqHandlerFunction', {
      entry: 'functions/steps/dlq-handler.ts',
      stage,
      description: 'Baton step DLQ handler: fails dead-lettered steps and blocks their runs',
    })
      .useEngine(engine)
      .useQueue(stepParked, 'STEP_PARKED_QUEUE_URL', 'send');
    this.dlqHandler.addEventSource(new SqsEventSource(stepDlq, { batchSize: 10, reportBatchItemFailures: true }));

    this.sweeper = new BatonFunction(this, 'SweeperFunction', {
      entry: 'functions/schedules/sweeper.ts',
      stage,
      description: 'Baton sweeper: republishes missed events, re-dispatches steps whose lease expired or whose message was lost',
      timeout: Duration.seconds(60),
      environment: {
        SWEEP_EVENT_GRACE_SECONDS: String(stage.timing.sweepEventGraceSeconds),
        SWEEP_LIMIT: '500',
        SWEEP_LEASE_GRACE_SECONDS: String(stage.timing.queueVisibilitySeconds + 5),
        SWEEP_DISPATCH_GRACE_SECONDS: String(stage.timing.sweepDispatchGraceSeconds),
      },
    }).useEngine(engine);
    const schedule = new Rule(this, 'SweepSchedule', {
      description: 'Runs the Baton sweeper',
      schedule: Schedule.rate(Duration.minutes(stage.timing.sweepEveryMinutes)),
      targets: [new LambdaFunction(this.sweeper, { retryAttempts: 2 })],
    });
    Validations.of(schedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason: 'A schedule tick carries no data: a lost one is replaced by the next, one period later.',
    });
    Validations.of(this.sweeper).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'A missed sweep changes nothing: the next scheduled run does the same work (it is idempotent).',
    });
    new CfnOutput(this, 'SweeperFunctionName', { value: this.sweeper.functionName });

    // Timed starts: every schedule of the stage lives in one group and invokes scheduled-start.
    this.scheduleGroupName = `baton-${stage.name}`;
    new CfnScheduleGroup(this, 'ScheduleGroup', { name: this.scheduleGroupName });
    this.scheduledStart = new BatonFunction(this, 'ScheduledStartFunction', {
      entry: 'functions/schedules/scheduled-start.ts',
      stage,
      description: 'Baton scheduled starts: a schedule fired, start a run (idempotent per fire time)',
    }).useEngine(engine);
    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: invoke Baton scheduled-start',
    });
    // The function itself only (grantInvoke would add every version and alias, `:*`).
    this.schedulerRole.addToPolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.scheduledStart.functionArn] }));
    Validations.of(this.scheduledStart).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked by EventBridge Scheduler, which retries (3 attempts per schedule target); a missed fire of a rate schedule is replaced by the next.',
    });

    // Webhook reactions: the bus rule on `webhook.received` invokes them asynchronously. A failed
    // invocation is retried by Lambda (2 more times), then parked with its event in the DLQ, as is
    // an event EventBridge could not deliver within a day.
    this.reactionsDlq = new Queue(this, 'ReactionsDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    for (const id of ['Serverless-SQSRedrivePolicy', 'AwsSolutions-SQS3']) {
      Validations.of(this.reactionsDlq).acknowledge({
        id,
        reason: 'This is a dead-letter queue (the reactions function\'s on-failure destination and the rule target\'s DLQ): events parked here are inspected and redriven by hand; their reactions are idempotent.',
      });
    }
    this.reactions = new BatonFunction(this, 'WebhookReactionsFunction', {
      entry: 'functions/webhooks/react.ts',
      stage,
      description: 'Baton webhook reactions: completes correlated webhook steps, CI gates and merged runs',
      // An on-failure destination rather than a Lambda DLQ: it keeps the error with the event.
      onFailure: new SqsDestination(this.reactionsDlq),
      retryAttempts: 2,
    }).useEngine(engine);
    Validations.of(this.reactions).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Failed asynchronous invocations go to an on-failure destination (ReactionsDlq), which keeps the error with the event; a DLQ would duplicate it.',
    });
    new Rule(this, 'WebhookReceivedRule', {
      description: 'Routes accepted webhook deliveries to the Baton webhook reactions',
      eventBus: bus,
      eventPattern: { source: [eventSource], detailType: ['webhook.received'] },
      targets: [new LambdaFunction(this.reactions, { deadLetterQueue: this.reactionsDlq, maxEventAge: Duration.hours(24), retryAttempts: 185 })],
    });
    new CfnOutput(this, 'ReactionsDlqUrl', { value: this.reactionsDlq.queueUrl });

    // Triggers: the API puts one rule per `eventbridge` trigger on the trigger bus, named with
    // the stage's prefix; each invokes trigger-start (asynchronously: retried, then parked with
    // its event in the reactions DLQ, which holds every event-started invocation that failed).
    this.triggerStart = new BatonFunction(this, 'TriggerStartFunction', {
      entry: 'functions/triggers/trigger-start.ts',
      stage,
      description: 'Baton trigger starts: an event matched a trigger\'s rule, start a run (idempotent per event id)',
      onFailure: new SqsDestination(this.reactionsDlq),
      retryAttempts: 2,
    }).useEngine(engine);
    // Only the stage's trigger rules on the trigger bus may invoke it.
    this.triggerStart.addPermission('TriggerRulesInvoke', {
      principal: new ServicePrincipal('events.amazonaws.com'),
      sourceAccount: Aws.ACCOUNT_ID,
      sourceArn: triggerRuleArnPattern(stage),
    });
    Validations.of(this.triggerStart).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Failed asynchronous invocations go to an on-failure destination (ReactionsDlq), which keeps the error with the event; a DLQ would duplicate it.',
    });
    new CfnOutput(this, 'TriggerBusName', { value: stage.triggerBus });

    // Sub-workflows: a run that ends (completed, blocked, cancelled) may be a child waited for by
    // a parent's `workflow` step; child-finished completes or fails that step (a run without a
    // parent: nothing). Asynchronous, retried, parked in the reactions DLQ like the reactions.
    this.childFinished = new BatonFunction(this, 'ChildFinishedFunction', {
      entry: 'functions/steps/child-finished.ts',
      stage,
      description: 'Baton sub-workflows: a child run ended, complete or fail its parent step',
      onFailure: new SqsDestination(this.reactionsDlq),
      retryAttempts: 2,
    }).useEngine(engine);
    Validations.of(this.childFinished).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Failed asynchronous invocations go to an on-failure destination (ReactionsDlq), which keeps the error with the event; a DLQ would duplicate it.',
    });
    new Rule(this, 'RunEndedRule', {
      description: 'Routes ended runs to the Baton child-finished function (sub-workflows)',
      eventBus: bus,
      eventPattern: { source: [eventSource], detailType: ['run.completed', 'run.blocked', 'run.cancelled'] },
      targets: [new LambdaFunction(this.childFinished, { deadLetterQueue: this.reactionsDlq, maxEventAge: Duration.hours(24), retryAttempts: 185 })],
    });
    new CfnOutput(this, 'TriggerStartFunctionName', { value: this.triggerStart.functionName });

    for (const fn of [this.worker, this.dlqHandler]) {
      Validations.of(fn).acknowledge({
        id: 'Serverless-LambdaDLQ',
        reason: 'Invoked by an SQS event source only; failed messages go to the queue\'s own redrive DLQ, not a Lambda async DLQ.',
      });
      Validations.of(fn).acknowledge({
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason: 'SQS event sources take no on-failure destination; the queue\'s redrive policy (5 receives) moves failed messages to the step DLQ, which the DLQ handler consumes.',
      });
    }
  }
}
