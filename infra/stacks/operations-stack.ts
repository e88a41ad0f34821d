import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TextWidget, TreatMissingData, type IMetric, type IWidget } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { batonMetrics, type BatonMetricName } from '#shared/domain/metrics';
import { metricsNamespace, sweeperMetrics, sweeperService } from '#shared/middleware/baton-metrics';
import type { Stage } from '../stage';

export interface OperationsStackProps extends StackProps {
  stage: Stage;
  queues: { steps: IQueue; stepsDlq: IQueue; stepsParked: IQueue; reactionsDlq: IQueue };
  functions: { worker: IFunction; dlqHandler: IFunction; sweeper: IFunction; reactions: IFunction; scheduledStart: IFunction; api: IFunction; webhooks: IFunction };
  api: HttpApi;
}

/** The alarms' ids: also their names' suffixes (`baton-<stage>-<id>`) and the README's headings. */
export const alarmIds = ['StepDeadLettered', 'ReactionDeadLettered', 'StepQueueStale', 'WorkerErrors', 'ApiErrors', 'SweeperErrors', 'LeasesExpired'] as const;
export type AlarmId = (typeof alarmIds)[number];

/**
 * How Baton is watched: one SNS topic every alarm notifies (mailed to `alarmEmail` when the stage
 * has one), the alarms (thresholds in infra/stage.ts, what each means in README "Operating
 * Baton"), and a dashboard per stage with the queues, the functions and Baton's own metrics.
 */
export class OperationsStack extends Stack {
  readonly topic: Topic;
  readonly alarms: Record<AlarmId, Alarm>;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, { stage, queues, functions, api, ...props }: OperationsStackProps) {
    super(scope, id, props);
    const thresholds = stage.alarms;
    const period = Duration.minutes(thresholds.periodMinutes);

    // SNS encrypts at rest only with a key CloudWatch may use: the AWS-managed alias/aws/sns key's
    // policy cannot admit CloudWatch, so alarms could not publish to it. A key of its own, rotated.
    const key = new Key(this, 'AlarmTopicKey', {
      description: `Baton ${stage.name}: encrypts the alarm topic`,
      enableKeyRotation: true,
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'AlarmTopic', { displayName: `Baton ${stage.name} alarms`, masterKey: key, enforceSSL: true });
    if (stage.alarmEmail) {
      const subscription = new EmailSubscription(stage.alarmEmail);
      this.topic.addSubscription(subscription);
      Validations.of(this.topic).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason: 'An e-mail notification of an alarm: an undeliverable one loses nothing, as the alarm keeps its state (and history) in CloudWatch and on the dashboard.',
      });
    }

    const sum = { period, statistic: 'Sum' } as const;
    const max = { period, statistic: 'Maximum' } as const;
    const leasesExpired = batonMetric(sweeperMetrics.leasesExpired, stage, sum);
    const define = (alarmId: AlarmId, metric: IMetric, threshold: number, description: string, evaluationPeriods = thresholds.evaluationPeriods) => {
      const alarm = new Alarm(this, alarmId, {
        alarmName: `baton-${stage.name}-${alarmId}`,
        alarmDescription: `${description} README: "Operating Baton", ${alarmId}.`,
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data is no trouble: an idle stage sends no queue or error data points.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new SnsAction(this.topic));
      return alarm;
    };
    this.alarms = {
      // The DLQ handler receives every dead letter at once (it records it and blocks the run), so
      // the queue's visible count stays near 0: what it received is what landed there.
      StepDeadLettered: define('StepDeadLettered', queues.stepsDlq.metricNumberOfMessagesReceived(sum), 1, 'A step message was dead-lettered: the worker crashed or timed out on it at every delivery; its run is blocked (DEAD_LETTERED).', 1),
      ReactionDeadLettered: define('ReactionDeadLettered', queues.reactionsDlq.metricApproximateNumberOfMessagesVisible(max), 1, 'A webhook reaction failed after its retries and is parked in the reactions DLQ (nothing consumes it).', 1),
      StepQueueStale: define('StepQueueStale', queues.steps.metricApproximateAgeOfOldestMessage(max), thresholds.oldestStepMessageSeconds, `The oldest step message is ${thresholds.oldestStepMessageSeconds} s old or older: the worker is not keeping up, throttled, or not consuming.`),
      WorkerErrors: define('WorkerErrors', functions.worker.metricErrors(sum), thresholds.workerErrors, 'Step worker invocations failed (crash, timeout, unhandled error); failing steps are not counted here.'),
      ApiErrors: define('ApiErrors', api.metricServerError(sum), thresholds.api5xxResponses, 'The API answered with 5xx responses.'),
      SweeperErrors: define('SweeperErrors', functions.sweeper.metricErrors(sum), thresholds.sweeperErrors, 'The sweeper failed: republishing, lease recovery, timers and lost sends wait for a run that succeeds.'),
      LeasesExpired: define('LeasesExpired', leasesExpired, thresholds.expiredLeases, 'The sweeper found steps still running past their lease (their worker vanished without a redelivery) and sent them again.'),
    };

    const fns = Object.entries(functions);
    const wide = { width: 12, height: 6 } as const;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `baton-${stage.name}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new TextWidget({ markdown: `# Baton ${stage.name}\nAlarms notify the SNS topic of Baton-${stage.name}-Operations; what each means and what to do: README, "Operating Baton".`, width: 24, height: 2 })],
        [
          new GraphWidget({
            title: 'Queue depth (visible, in flight)',
            left: Object.entries(queues).flatMap(([name, queue]) => [
              queue.metricApproximateNumberOfMessagesVisible({ ...max, label: `${name} visible` }),
              queue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: `${name} in flight` }),
            ]),
            ...wide,
          }),
          new GraphWidget({
            title: 'Age of the oldest message (s)',
            left: Object.entries(queues).map(([name, queue]) => queue.metricApproximateAgeOfOldestMessage({ ...max, label: name })),
            leftAnnotations: [{ value: thresholds.oldestStepMessageSeconds, label: 'StepQueueStale' }],
            ...wide,
          }),
        ],
        [
          new GraphWidget({ title: 'Function errors', left: fns.map(([name, fn]) => fn.metricErrors({ ...sum, label: name })), ...wide }),
          new GraphWidget({ title: 'Function throttles', left: fns.map(([name, fn]) => fn.metricThrottles({ ...sum, label: name })), ...wide }),
        ],
        [
          new GraphWidget({ title: 'Function duration p95 (ms)', left: fns.map(([name, fn]) => fn.metricDuration({ period, statistic: 'p95', label: name })), ...wide }),
          new GraphWidget({ title: 'API 5xx and 4xx', left: [api.metricServerError({ ...sum, label: '5xx' }), api.metricClientError({ ...sum, label: '4xx' })], ...wide }),
        ],
        [
          new GraphWidget({
            title: 'Sweeper repairs',
            left: Object.values(sweeperMetrics).map((name) => batonMetric(name, stage, { ...sum, label: name })),
            ...wide,
          }),
          new GraphWidget({ title: 'Dead letters', left: [queues.stepsDlq.metricNumberOfMessagesReceived({ ...sum, label: 'steps dead-lettered' }), queues.reactionsDlq.metricNumberOfMessagesSent({ ...sum, label: 'reactions parked' })], ...wide }),
        ],
        ...engineWidgets(stage, period),
      ],
    });

    new CfnOutput(this, 'AlarmTopicArn', { value: this.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: `baton-${stage.name}` });
  }
}

/** One of Baton's own metrics (shared/middleware/baton-metrics.ts) for this stage. */
const batonMetric = (metricName: string, stage: Stage, options: { period: Duration; statistic: string; label?: string }) =>
  new Metric({ namespace: metricsNamespace, metricName, dimensionsMap: { service: sweeperService, stage: stage.name }, ...options });

/**
 * Baton's own metrics (shared/domain/metrics.ts; README "Baton's metrics"): every one on a graph.
 * A metric by kind, reason or status class is a SEARCH (one line per value seen, no list of kinds
 * to keep in step); totals over the values are SUM(SEARCH(…)).
 */
function engineWidgets(stage: Stage, period: Duration): IWidget[][] {
  const seconds = period.toSeconds();
  const search = (name: BatonMetricName, statistic: string) => {
    const dimension = (batonMetrics[name] as { dimension?: string }).dimension;
    const schema = dimension ? `{${metricsNamespace},stage,${dimension}}` : `{${metricsNamespace},stage}`;
    return `SEARCH('${schema} MetricName="${name}" stage="${stage.name}"', '${statistic}', ${seconds})`;
  };
  const byValue = (name: BatonMetricName, statistic = 'Sum') => new MathExpression({ expression: search(name, statistic), usingMetrics: {}, label: '', period });
  const total = (name: BatonMetricName) => new MathExpression({ expression: `SUM(${search(name, 'Sum')})`, usingMetrics: {}, label: name, period });
  const plain = (name: BatonMetricName, statistic: string, label: string = name) => new Metric({ namespace: metricsNamespace, metricName: name, dimensionsMap: { stage: stage.name }, period, statistic, label });
  const wide = { width: 12, height: 6 } as const;
  const third = { width: 8, height: 6 } as const;
  return [
    [new TextWidget({ markdown: "## Steps and runs\nBaton's own metrics (namespace `Baton`, EMF from every function): README, \"Baton's metrics\".", width: 24, height: 1 })],
    [
      new GraphWidget({ title: 'Steps (all kinds)', left: (['StepsStarted', 'StepsCompleted', 'StepsFailed', 'StepsRetried', 'StepsDeadLettered'] as const).map(total), ...third }),
      new GraphWidget({ title: 'Steps completed by kind', left: [byValue('StepsCompleted')], ...third }),
      new GraphWidget({ title: 'Steps failed, retried, dead-lettered by kind', left: [byValue('StepsFailed'), byValue('StepsRetried'), byValue('StepsDeadLettered')], ...third }),
    ],
    [
      new GraphWidget({ title: 'Step duration p95 by kind (ms)', left: [byValue('StepDuration', 'p95')], ...third }),
      new GraphWidget({ title: 'Queue lag, send to start (ms)', left: [plain('QueueLag', 'p50', 'p50'), plain('QueueLag', 'p95', 'p95'), plain('QueueLag', 'Maximum', 'max')], ...third }),
      new GraphWidget({ title: 'Runs completed and blocked by reason', left: [plain('RunsCompleted', 'Sum'), byValue('RunsBlocked')], ...third }),
    ],
    [
      new GraphWidget({ title: 'Callbacks and heartbeats timed out', left: [byValue('CallbacksTimedOut')], ...third }),
      new GraphWidget({ title: 'Budget events (warning, exceeded)', left: [byValue('BudgetEvents')], ...third }),
      new GraphWidget({ title: 'Webhook deliveries accepted and refused', left: [byValue('WebhooksAccepted'), byValue('WebhookRefused')], ...third }),
    ],
    [
      new GraphWidget({ title: 'API requests by status class', left: [byValue('ApiRequests')], ...wide }),
      new GraphWidget({ title: 'API latency p95 by status class (ms)', left: [byValue('ApiLatency', 'p95')], ...wide }),
    ],
  ];
}
