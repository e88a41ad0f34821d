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

/**
 * How many times the DLQ handler may fail on a dead letter before SQS parks it unrecorded (its
 * run stays as it was; an operator sees it in `steps-parked` and can redrive it).
 */
export const stepDlqMaxReceiveCount = 10;

/** The step queue with its dead-letter queue and parking queue, and the bus that carries lifecycle events. */
export class MessagingStack extends Stack {
  readonly stepQueue: Queue;
  readonly stepDlq: Queue;
  /**
   * Dead letters kept for operators (`steps-parked`): the DLQ handler parks each one it recorded
   * (step failed DEAD_LETTERED, run blocked), and SQS parks those it could not handle. A redrive
   * (POST /v1/queues/steps-parked/redrive) moves them back to the step queue, where the worker
   * resumes their runs.
   */
  readonly stepParked: Queue;
  readonly bus: EventBus;

  constructor(scope: Construct, id: string, { stage, ...props }: MessagingStackProps) {
    super(scope, id, props);
    const removalPolicy = stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.stepParked = new Queue(this, 'StepParkedQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    Validations.of(this.stepParked).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'The last stop of a step message: nothing consumes it; operators peek at it and redrive it to the step queue (the /v1/queues routes).',
    });
    this.stepDlq = new Queue(this, 'StepDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.stepParked, maxReceiveCount: stepDlqMaxReceiveCount },
      removalPolicy,
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
    new CfnOutput(this, 'StepParkedQueueUrl', { value: this.stepParked.queueUrl });
    new CfnOutput(this, 'BusName', { value: this.bus.eventBusName });
  }
}
