import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal, type IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { defaultAgentFunctions } from '#shared/executors/lambda';
import { tableIndexNames } from '#shared/store/keys';
import { apiUrlParameterName, type Stage } from '../stage';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What a function running the workflow engine is bound to. */
export interface EngineResources {
  table: ITable;
  bucket: IBucket;
  bucketAccess: IManagedPolicy;
  stepQueue: IQueue;
  bus: IEventBus;
  stage: Stage;
}

export interface BatonFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime'> {
  /** Entry file, relative to the repository root (e.g. `functions/api/http-api.ts`). */
  entry: string;
  stage: Stage;
}

/**
 * Every Baton Lambda: one place for the runtime, architecture, memory, timeout, log retention,
 * tracing and bundling defaults, and `use*` methods that grant access to a resource and set the
 * environment variable naming it in the same call, so the two can never drift apart.
 */
export class BatonFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, { entry, stage, environment, bundling, ...props }: BatonFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: stage.isLocal ? RetentionDays.ONE_DAY : RetentionDays.ONE_MONTH,
      removalPolicy: stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    // A role of its own instead of AWSLambdaBasicExecutionRole: it may write to its own log group only.
    const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      role,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(29),
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      logGroup,
      entry: `${root}/${entry}`,
      projectRoot: root,
      depsLockFilePath: `${root}/package-lock.json`,
      ...props,
      environment: {
        BATON_STAGE: stage.name,
        POWERTOOLS_SERVICE_NAME: `baton-${id.replace(/Function$/, '').toLowerCase()}`,
        POWERTOOLS_LOG_LEVEL: stage.isLocal ? 'DEBUG' : 'INFO',
        // Powertools Tracer (shared/middleware/tracer.ts): the handler's subsegment and every SDK
        // call, never a handler's response as metadata (an API answer can hold a token's value).
        // It switches itself off outside Lambda: on the emulator, which sets no AWS_EXECUTION_ENV.
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
      bundling: {
        // CommonJS output: runs the same on Lambda's Node and on an emulator's host Node,
        // which is why nothing may use top-level await. The SDK is bundled (externalModules
        // empty) because emulators run functions on the host without one preinstalled.
        format: OutputFormat.CJS,
        target: 'node20',
        minify: !stage.isLocal,
        sourceMap: true,
        sourcesContent: false,
        externalModules: [],
        ...bundling,
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing: xray:PutTraceSegments and PutTelemetryRecords support no resource-level permissions.',
    });
  }

  /**
   * Item-level access to the table and its named indexes. Written out rather than
   * `grantReadWriteData`, which grants `index/*`: each index is listed, so no wildcard.
   */
  useTable(table: ITable, access: 'read' | 'readWrite'): this {
    const read = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable'];
    const write = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
    this.addToRolePolicy(
      new PolicyStatement({
        actions: access === 'read' ? read : [...read, ...write],
        resources: [table.tableArn, ...tableIndexNames.map((index) => `${table.tableArn}/index/${index}`)],
      }),
    );
    this.addEnvironment('TABLE_NAME', table.tableName);
    return this;
  }

  /** Object access through the bucket's managed policy (scoped to Baton's prefix), and BUCKET_NAME. */
  useBucket(bucket: IBucket, access: IManagedPolicy): this {
    this.role?.addManagedPolicy(access);
    this.addEnvironment('BUCKET_NAME', bucket.bucketName);
    return this;
  }

  useQueue(queue: IQueue, envName: string, access: 'send' | 'consume'): this {
    if (access === 'send') queue.grantSendMessages(this);
    else queue.grantConsumeMessages(this);
    this.addEnvironment(envName, queue.queueUrl);
    return this;
  }

  useBus(bus: IEventBus): this {
    bus.grantPutEventsTo(this);
    this.addEnvironment('BUS_NAME', bus.eventBusName);
    return this;
  }

  /**
   * Everything the workflow engine touches: table, artifacts, step queue (send), bus, and the
   * engine's settings for this stage.
   */
  useEngine({ table, bucket, bucketAccess, stepQueue, bus, stage }: EngineResources): this {
    this.useTable(table, 'readWrite').useBucket(bucket, bucketAccess).useQueue(stepQueue, 'STEP_QUEUE_URL', 'send').useBus(bus);
    this.addEnvironment('ALLOW_PRIVATE_TARGETS', String(stage.isLocal));
    this.addEnvironment('TEST_EXECUTORS', String(stage.isLocal));
    this.addEnvironment('DEFAULT_STEP_TIMEOUT_SECONDS', String(stage.timing.defaultStepTimeoutSeconds));
    this.addEnvironment('MAX_STEP_TIMEOUT_SECONDS', String(stage.timing.maxStepTimeoutSeconds));
    this.addEnvironment('LEASE_MARGIN_SECONDS', String(stage.timing.leaseMarginSeconds));
    return this;
  }

  /**
   * `lambda` steps: may invoke exactly the allowed agent functions (`baton-agent-*` in its own
   * account and region, plus the stage's `agentFunctions`), each with its versions and aliases,
   * and is told the same list, which the executor checks before it calls (a clear step error
   * instead of Lambda's AccessDenied).
   */
  useAgentFunctions(stage: Stage): this {
    const arnPrefix = `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:`;
    const patterns = [`${arnPrefix}${defaultAgentFunctions}`, ...stage.agentFunctions];
    // A qualified invocation is authorised against `<arn>:<qualifier>`; a trailing `*` covers both already.
    const isQualified = (arn: string) => arn.split(':').length > 7;
    const resources = patterns.flatMap((pattern) => (pattern.endsWith('*') || isQualified(pattern) ? [pattern] : [pattern, `${pattern}:*`]));
    this.addToRolePolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources }));
    this.addEnvironment('AGENT_FUNCTIONS', patterns.join(','));
    this.addEnvironment('AGENT_FUNCTION_ARN_PREFIX', arnPrefix);
    Validations.of(this.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:${defaultAgentFunctions}]`,
      reason: 'Agent functions are the user\'s, created after Baton is deployed: the worker may invoke those named baton-agent-* in its own account and region (the documented convention), with their versions and aliases, and checks each ARN before invoking.',
    });
    for (const resource of resources.filter((arn) => arn.includes('*') && stage.agentFunctions.some((pattern) => arn.startsWith(pattern)))) {
      Validations.of(this.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason: 'Listed by the operator at deploy (-c agentFunctions) as agent functions the worker may invoke, with their versions and aliases.',
      });
    }
    return this;
  }

  /**
   * The project secrets key, for one direction only: the API encrypts (`kms:Encrypt`), the step
   * worker decrypts (`kms:Decrypt`). Written out rather than `grantEncrypt`, which also grants
   * ReEncrypt and GenerateDataKey.
   */
  useSecretsKey(key: IKey, access: 'encrypt' | 'decrypt'): this {
    this.addToRolePolicy(new PolicyStatement({ actions: [access === 'encrypt' ? 'kms:Encrypt' : 'kms:Decrypt'], resources: [key.keyArn] }));
    this.addEnvironment('SECRETS_KEY_ARN', key.keyArn);
    return this;
  }

  /**
   * Reads the API's base URL from its SSM parameter (the API stack writes it; see
   * apiUrlParameterName), for the callback URLs agents are given: exactly that parameter.
   */
  useApiUrlParameter(stage: Stage): this {
    const name = apiUrlParameterName(stage);
    this.addToRolePolicy(new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${name}`] }));
    this.addEnvironment('API_URL_PARAMETER', name);
    return this;
  }

  useSecret(secret: ISecret, envName: string): this {
    secret.grantRead(this);
    this.addEnvironment(envName, secret.secretArn);
    return this;
  }
}
