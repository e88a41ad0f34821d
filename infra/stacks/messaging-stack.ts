import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Stage } from '../stage';

export interface MessagingStackProps extends StackProps {
  stage: Stage;
}

/** How many times a step message may be received before it is dead-lettered. */
export const stepMaxReceiveCount = 5;

/** The step queue with its dead-letter queue, and the bus that carries lifecycle events. */
export class MessagingStack extends Stack {
  readonly stepQueue: Queue;
  readonly stepDlq: Queue;
  readonly bus: EventBus;

  constructor(scope: Construct, id: string, { stage, ...props }: MessagingStackProps) {
    super(scope, id, props);
    const removalPolicy = stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.stepDlq = new Queue(this, 'StepDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    Validations.of(this.stepDlq).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'This is the dead-letter queue; the dlq-handler records what lands here and nothing redrives it further.',
    });
    this.stepQueue = new Queue(this, 'StepQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // At least the worker's timeout (an SQS event source requires it); see EngineTiming.
      visibilityTimeout: Duration.seconds(stage.timing.queueVisibilitySeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.stepDlq, maxReceiveCount: stepMaxReceiveCount },
      removalPolicy,
    });
    this.bus = new EventBus(this, 'Bus', { eventBusName: `baton-${stage.name}` });

    new CfnOutput(this, 'StepQueueUrl', { value: this.stepQueue.queueUrl });
    new CfnOutput(this, 'StepDlqUrl', { value: this.stepDlq.queueUrl });
    new CfnOutput(this, 'BusName', { value: this.bus.eventBusName });
  }
}
