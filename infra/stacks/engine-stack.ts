import { Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { BatonFunction, type EngineResources } from '../constructs/baton-function';

export interface EngineStackProps extends StackProps, EngineResources {
  stepDlq: IQueue;
}

/** The workflow engine's consumers: the step worker on the step queue and the DLQ handler on its DLQ. */
export class EngineStack extends Stack {
  readonly worker: BatonFunction;
  readonly dlqHandler: BatonFunction;

  constructor(scope: Construct, id: string, { stage, table, bucket, bucketAccess, bus, stepQueue, stepDlq, ...props }: EngineStackProps) {
    super(scope, id, props);
    const engine = { table, bucket, bucketAccess, stepQueue, bus, stage };

    this.worker = new BatonFunction(this, 'StepWorkerFunction', {
      entry: 'functions/steps/step-worker.ts',
      stage,
      description: 'Baton step worker: claims, executes and records steps from the step queue',
      timeout: Duration.seconds(stage.timing.workerTimeoutSeconds),
    }).useEngine(engine);
    this.worker.addEventSource(
      new SqsEventSource(stepQueue, { batchSize: 10, reportBatchItemFailures: true, ...(stage.isLocal ? {} : { maxConcurrency: 50 }) }),
    );

    this.dlqHandler = new BatonFunction(this, 'DlqHandlerFunction', {
      entry: 'functions/steps/dlq-handler.ts',
      stage,
      description: 'Baton step DLQ handler: fails dead-lettered steps and blocks their runs',
    }).useEngine(engine);
    this.dlqHandler.addEventSource(new SqsEventSource(stepDlq, { batchSize: 10, reportBatchItemFailures: true }));

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
