import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Validations, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnApi, CorsHttpMethod, HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IDistribution } from 'aws-cdk-lib/aws-cloudfront';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { BatonFunction, type EngineResources } from '../constructs/baton-function';
import { ConsolePublication } from '../constructs/console-publication';
import { emulatorCorsConfiguration, pinnedApiIdTags } from '../emulator-gaps';
import { apiUrlParameterName, triggerRulePrefix } from '../stage';
import { triggerRuleArnPattern } from './engine-stack';
import { queueRoles, type QueueName } from '#shared/domain/queues';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';

export interface ApiStackProps extends StackProps, EngineResources {
  /** Where schedules go and what they invoke (from the engine stack). */
  schedules: { group: string; target: IFunction; role: IRole };
  /** What the rules of `eventbridge` triggers invoke (from the engine stack). */
  triggers: { target: IFunction };
  /** Project secrets: the API encrypts them (and never decrypts). */
  secretsKey: IKey;
  /** Where the web console is served (from the console stack): its origin is allowed by CORS. */
  webConsole: { bucketName: string; distribution: IDistribution; origin: string };
  /** The installation's queues by short name, for the /v1/queues routes. */
  queues: Record<QueueName, IQueue>;
}

/** The public HTTP API: one router Lambda behind an API Gateway HTTP API, and the installation admin token. */
export class ApiStack extends Stack {
  readonly api: HttpApi;
  readonly apiFunction: BatonFunction;
  readonly adminToken: Secret;
  readonly webhookKey: Secret;
  readonly webhookFunction: BatonFunction;

  constructor(scope: Construct, id: string, { stage, table, bucket, bucketAccess, bus, stepQueue, schedules, triggers, secretsKey, webConsole, queues, ...props }: ApiStackProps) {
    super(scope, id, props);
    // Browsers may call the API from the console (and from any origin the stage names). Locally
    // the stage allows any origin: the emulator's console URL depends on its port.
    const corsOrigins = stage.isLocal ? stage.corsOrigins : [webConsole.origin, ...stage.corsOrigins];

    // Created at deploy, never placed in an environment variable or an output: operators read
    // it from Secrets Manager (`npm start` does so to create the demo project).
    this.adminToken = new Secret(this, 'AdminToken', {
      description: `Baton ${stage.name}: installation admin token (creates projects)`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.adminToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'A bearer token, not a database credential: no rotation Lambda applies. Operators rotate it by putting a new value (docs/ARCHITECTURE.md, "Installation admin token").',
    });

    // Seals project webhook secrets in the table (AES-256-GCM): key and data live apart.
    this.webhookKey = new Secret(this, 'WebhookSecretsKey', {
      description: `Baton ${stage.name}: key material that seals project webhook secrets`,
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.webhookKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Key material for sealing stored webhook secrets; rotating it would need re-sealing every stored secret (planned with a key version).',
    });

    this.apiFunction = new BatonFunction(this, 'ApiFunction', {
      entry: 'functions/api/http-api.ts',
      stage,
      description: 'Baton HTTP API: projects, workflows, runs, steps, events',
      environment: {
        CORS_ORIGINS: corsOrigins.join(','),
        // The request rate of a token created without its own (GCRA bucket in the table).
        RATE_LIMIT_PER_SECOND: '20',
        RATE_LIMIT_BURST: '40',
        // Locally every response is checked against its declared schema (a mismatch is a 500).
        CHECK_RESPONSES: String(stage.isLocal),
        // Each schedule fires a Lambda on its own; locally they all share one machine.
        MAX_SCHEDULES_PER_PROJECT: stage.isLocal ? '10' : '100',
        // Every webhook delivery reads its project's triggers (one query page).
        MAX_TRIGGERS_PER_PROJECT: '100',
        TRIGGER_BUS: stage.triggerBus,
        TRIGGER_RULE_PREFIX: triggerRulePrefix(stage),
      },
    })
      .useEngine({ table, bucket, bucketAccess, stepQueue, bus, stage })
      .useSecret(this.adminToken, 'ADMIN_TOKEN_SECRET_ARN')
      .useSecret(this.webhookKey, 'WEBHOOK_KEY_SECRET_ARN')
      .useSecretsKey(secretsKey, 'encrypt');
    this.apiFunction.addEnvironment('SCHEDULE_GROUP', schedules.group);
    this.apiFunction.addEnvironment('SCHEDULE_TARGET_ARN', schedules.target.functionArn);
    this.apiFunction.addEnvironment('SCHEDULE_ROLE_ARN', schedules.role.roleArn);
    this.apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
        resources: [`arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${schedules.group}/*`],
      }),
    );
    this.apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [schedules.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    Validations.of(this.apiFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${schedules.group}/*]`,
      reason: 'Schedules are created at run time, one per user schedule; the grant is limited to the stage\'s own schedule group.',
    });

    // Triggers' rules: created, paused and deleted at run time, only under the stage's prefix on
    // the trigger bus; their target is trigger-start, which allows those rules to invoke it.
    this.apiFunction.addEnvironment('TRIGGER_TARGET_ARN', triggers.target.functionArn);
    this.apiFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutRule', 'events:PutTargets', 'events:RemoveTargets', 'events:DeleteRule', 'events:EnableRule', 'events:DisableRule'],
        resources: [triggerRuleArnPattern(stage)],
      }),
    );
    Validations.of(this.apiFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/${stage.triggerBus === 'default' ? '' : `${stage.triggerBus}/`}${triggerRulePrefix(stage)}*]`,
      reason: "Trigger rules are created at run time, one per eventbridge trigger; the grant is limited to rules named with the stage's trigger prefix on the trigger bus.",
    });

    this.useQueues(queues);

    this.webhookFunction = new BatonFunction(this, 'WebhookFunction', {
      entry: 'functions/webhooks/receive.ts',
      stage,
      description: 'Baton webhooks: verifies, deduplicates, records and routes deliveries',
    })
      .useEngine({ table, bucket, bucketAccess, stepQueue, bus, stage })
      .useSecret(this.webhookKey, 'WEBHOOK_KEY_SECRET_ARN');
    Validations.of(this.webhookFunction).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by API Gateway only; the sender retries a failed delivery.',
    });
    Validations.of(this.apiFunction).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by API Gateway only; a Lambda DLQ applies to asynchronous invocations.',
    });

    this.api = new HttpApi(this, 'HttpApi', {
      description: `Baton ${stage.name} API`,
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.apiFunction),
      // API Gateway answers preflights itself; the router only ever sees the real request.
      corsPreflight: {
        allowOrigins: corsOrigins,
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.PATCH, CorsHttpMethod.DELETE],
        allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
        exposeHeaders: ['x-request-id', 'retry-after', 'idempotent-replayed'],
        maxAge: Duration.minutes(10),
      },
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'Every route but /health checks a bearer token inside the API Lambda (hashed tokens in DynamoDB, project-scoped); an API Gateway authorizer would add a second invocation per request.',
    });
    // Webhooks authenticate by signature, not bearer token: their own function and route.
    this.api.addRoutes({
      path: '/v1/webhooks/{provider}/{projectId}',
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('WebhookIntegration', this.webhookFunction),
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: stage.isLocal ? RetentionDays.ONE_DAY : RetentionDays.THREE_MONTHS,
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: AccessLogFormat.jsonWithStandardFields() },
      throttle: { rateLimit: 200, burstLimit: 400 },
    });
    if (stage.isLocal) {
      for (const [key, value] of Object.entries(pinnedApiIdTags)) Tags.of(this.api).add(key, value);
      const cfnApi = this.api.node.defaultChild as CfnApi;
      cfnApi.addPropertyOverride('CorsConfiguration', emulatorCorsConfiguration(this.resolve(cfnApi.corsConfiguration) as Record<string, unknown>));
    }

    // The console's files and the config.json naming this API. On the emulator the deploy script
    // uploads them instead (infra/emulator-gaps.ts, localConsoleUrl).
    if (!stage.isLocal) {
      new ConsolePublication(this, 'ConsolePublication', {
        bucket: Bucket.fromBucketName(this, 'ConsoleBucket', webConsole.bucketName),
        distribution: webConsole.distribution,
        stage,
        config: { apiUrl: this.api.apiEndpoint, stage: stage.name },
      });
    }

    // The step worker reads it for callback URLs (its stack is built before this one).
    new StringParameter(this, 'ApiUrlParameter', {
      parameterName: apiUrlParameterName(stage),
      stringValue: this.api.apiEndpoint,
      description: `Baton ${stage.name}: the API's base URL (callback URLs of pending agent steps)`,
    });

    new CfnOutput(this, 'ApiId', { value: this.api.apiId });
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });
    new CfnOutput(this, 'AdminTokenSecretArn', { value: this.adminToken.secretArn });
  }

  /**
   * The queue routes (installation admin): every queue's counts; receive and release (a peek) on
   * the peekable ones; the message move task on the redrivable ones (SQS also needs receive and
   * delete on the source, and send on the destination: the step queue, already granted).
   */
  private useQueues(queues: Record<QueueName, IQueue>): void {
    const entries = Object.entries(queues) as [QueueName, IQueue][];
    this.apiFunction.addEnvironment('QUEUES', this.toJsonString(entries.map(([name, queue]) => ({ name, url: queue.queueUrl, arn: queue.queueArn }))));
    this.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['sqs:GetQueueAttributes'], resources: entries.map(([, queue]) => queue.queueArn) }));
    const peekable = entries.filter(([name]) => !queueRoles[name].notPeekable);
    this.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'], resources: peekable.map(([, queue]) => queue.queueArn) }));
    const redrivable = entries.filter(([name]) => 'to' in queueRoles[name].redrive);
    this.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['sqs:StartMessageMoveTask', 'sqs:DeleteMessage'], resources: redrivable.map(([, queue]) => queue.queueArn) }));
  }
}
