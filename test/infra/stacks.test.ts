import { Match } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stepDlqMaxReceiveCount, stepMaxReceiveCount } from '#infra/stacks/messaging-stack';
import { alarmIds, type AlarmId } from '#infra/stacks/operations-stack';
import { localApiId } from '#infra/emulator-gaps';
import { readStage, timingProblems } from '#infra/stage';
import { batonMetrics } from '#shared/domain/metrics';
import { listingsIndex, tableIndexNames } from '#shared/store/keys';
import { synthesize } from './synth';

type Synthesized = ReturnType<typeof synthesize>;
let local: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  local = synthesize('local');
  prod = synthesize('prod');
});

describe('cdk-nag', () => {
  it.each(['local', 'prod'])('passes the AwsSolutions and Serverless packs with no unacknowledged error (%s)', (stage) => {
    const { outdir } = stage === 'local' ? local : prod;
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: { ruleName: string; severity: string }[] }[];
    };

    const errors = report.pluginReports.flatMap((plugin) => plugin.violations.filter((violation) => violation.severity === 'error'));
    expect(errors).toEqual([]);
  });
});

describe('data stack', () => {
  it('has one on-demand, encrypted table with PITR, TTL and the named GSIs', () => {
    prod.data.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true })],
      GlobalSecondaryIndexes: tableIndexNames.map((IndexName) => Match.objectLike({ IndexName })),
    });
  });

  it('projects only keys into the overloaded listings index (each entry one write unit, whatever the item holds)', () => {
    prod.data.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      GlobalSecondaryIndexes: Match.arrayWith([
        Match.objectLike({
          IndexName: listingsIndex.name,
          KeySchema: [
            { AttributeName: listingsIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: listingsIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        }),
      ]),
    });
  });

  it('keeps data on delete outside the local stage, and drops it locally', () => {
    prod.data.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
    local.data.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Delete' });
  });

  it('has a private, encrypted, TLS-only artifacts bucket with access logs', () => {
    prod.data.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'artifacts/' },
    });
    prod.data.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('project secrets key', () => {
  it('is a symmetric KMS key with rotation on, kept outside the local stage', () => {
    prod.data.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ EnableKeyRotation: true }) });
    local.data.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete' });
    expect(prod.data.findResources('AWS::KMS::Key', { Properties: { KeySpec: Match.anyValue() } })).toEqual({});
  });

  it('may be used by the API (encrypt) and the step worker (decrypt) and by no other function', () => {
    const users = [prod.api, prod.engine].flatMap((template) =>
      Object.entries(template.findResources('AWS::IAM::Policy'))
        .filter(([, policy]) => JSON.stringify(policy).includes('"kms:'))
        .map(([logicalId]) => logicalId.replace(/RoleDefaultPolicy.*$/, '')),
    );

    expect(users.sort()).toEqual(['ApiFunction', 'StepWorkerFunction']);
    expect(policyStatementsOf(prod.api, 'ApiFunction')).toContainEqual(secretsKeyStatement('kms:Encrypt'));
    expect(policyStatementsOf(prod.engine, 'StepWorkerFunction')).toContainEqual(secretsKeyStatement('kms:Decrypt'));
    expect(JSON.stringify(prod.data.findResources('AWS::IAM::Policy'))).not.toContain('kms:');
  });
});

describe('messaging stack', () => {
  it(`dead-letters a step message after ${stepMaxReceiveCount} receives`, () => {
    const [dlqId] = Object.keys(prod.messaging.findResources('AWS::SQS::Queue')).filter((id) => id.startsWith('StepDlq'));

    expect(dlqId).toBeDefined();
    prod.messaging.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: stepMaxReceiveCount },
      SqsManagedSseEnabled: true,
      // Twice the worker's 900 s (docs/ARCHITECTURE.md, Timing).
      VisibilityTimeout: 1800,
    });
  });

  it(`parks what the DLQ handler fails on ${stepDlqMaxReceiveCount} times in steps-parked, kept 14 days`, () => {
    const [parkedId] = Object.keys(prod.messaging.findResources('AWS::SQS::Queue')).filter((id) => id.startsWith('StepParkedQueue'));

    expect(parkedId).toBeDefined();
    prod.messaging.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [parkedId, 'Arn'] }, maxReceiveCount: stepDlqMaxReceiveCount }, MessageRetentionPeriod: 14 * 24 * 3600 });
    expect((prod.messaging.findResources('AWS::SQS::Queue')[parkedId!] as { Properties: Record<string, unknown> }).Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
  });

  it('encrypts every queue of every stack and refuses non-TLS access to each', () => {
    for (const template of [prod.messaging, prod.engine]) {
      const queues = Object.keys(template.findResources('AWS::SQS::Queue'));
      expect(queues.length).toBeGreaterThan(0);
      template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
      const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')) as { Properties: { Queues: unknown[]; PolicyDocument: { Statement: { Effect: string; Condition?: unknown }[] } } }[];
      for (const queue of queues) {
        const policy = policies.find((candidate) => JSON.stringify(candidate.Properties.Queues).includes(`"${queue}"`));
        expect(policy?.Properties.PolicyDocument.Statement, queue).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]));
      }
    }
  });

  it('names the bus after the stage', () => {
    prod.messaging.hasResourceProperties('AWS::Events::EventBus', { Name: 'baton-prod' });
  });
});

describe('api stack', () => {
  it('serves every route through one Lambda integration, with JSON access logs and throttling', () => {
    prod.api.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    prod.api.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId"') },
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
    });
  });

  it('pins the API id on the local stage only', () => {
    local.api.hasResourceProperties('AWS::ApiGatewayV2::Api', { Tags: Match.objectLike({ 'ms-custom-id': localApiId }) });
    expect(JSON.stringify(prod.api.findResources('AWS::ApiGatewayV2::Api'))).not.toContain('ms-custom-id');
  });

  it('runs the API function with the project defaults and names its resources in the environment', () => {
    prod.api.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 29,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: {
        Variables: Match.objectLike({
          BATON_STAGE: 'prod',
          TABLE_NAME: Match.anyValue(),
          BUS_NAME: Match.anyValue(),
          ADMIN_TOKEN_SECRET_ARN: Match.anyValue(),
        }),
      },
    });
  });

  it('never puts the installation admin token in an environment variable or an output', () => {
    const template = JSON.stringify(prod.api.toJSON());

    expect(template).not.toMatch(/"SecretString"|resolve:secretsmanager/);
    expect(Object.keys(prod.api.toJSON().Outputs ?? {})).not.toContain('AdminToken');
  });

  it('grants the API function exactly what the engine uses, with no wildcard but X-Ray', () => {
    expectSameStatements(
      policyStatementsOf(prod.api, 'ApiFunction'),
      engineStatements('ApiFunction', [
        secretStatement('AdminToken'),
        secretStatement('WebhookSecretsKey'),
        secretsKeyStatement('kms:Encrypt'),
        {
          Effect: 'Allow',
          Action: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':schedule/baton-prod/*']] },
        },
        ...queueStatements,
        {
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Engine:.*SchedulerRole.*Arn/) },
          Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        },
        {
          // Trigger rules: only those named with the stage's prefix, on the trigger bus (`default` here: no bus in the ARN).
          Effect: 'Allow',
          Action: ['events:PutRule', 'events:PutTargets', 'events:RemoveTargets', 'events:DeleteRule', 'events:EnableRule', 'events:DisableRule'],
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':rule/baton-prod-trigger-*']] },
        },
      ]),
    );
    expect(managedPoliciesOf(prod.api, 'ApiFunction')).toEqual([{ 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Data:.*ArtifactsAccess/) }]);
  });
});

describe('console', () => {
  it('keeps the console in a private, encrypted, TLS-only bucket with access logs, named for the stage', () => {
    prod.console.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['baton-prod-console-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'console-bucket/' },
    });
    const policies = Object.values(prod.console.findResources('AWS::S3::BucketPolicy')) as { Properties: { PolicyDocument: { Statement: unknown[] } } }[];
    const consolePolicy = policies.find((policy) => JSON.stringify(policy).includes('cloudfront.amazonaws.com'));
    expectSameStatements(consolePolicy?.Properties.PolicyDocument.Statement ?? [], [
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      // Only this distribution, through origin access control, reads the files.
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudfront.amazonaws.com' },
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^ConsoleBucket/), 'Arn'] }, '/*']] },
        Condition: {
          StringEquals: {
            'AWS:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudfront::', { Ref: 'AWS::AccountId' }, ':distribution/', { Ref: expect.stringMatching(/^ConsoleDistribution/) }]] },
          },
        },
      },
    ]);
  });

  it('serves it through CloudFront with origin access control, HTTPS, logging and security headers', () => {
    prod.console.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    prod.console.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        Logging: { Bucket: Match.anyValue(), Prefix: 'cloudfront/' },
        Origins: [Match.objectLike({ OriginAccessControlId: { 'Fn::GetAtt': [Match.stringLikeRegexp('OriginAccessControl'), 'Id'] }, S3OriginConfig: { OriginAccessIdentity: '' } })],
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          ResponseHeadersPolicyId: { Ref: Match.stringLikeRegexp('^SecurityHeaders') },
        }),
      }),
    });
    prod.console.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: {
          ContentSecurityPolicy: {
            ContentSecurityPolicy: Match.objectLike({ 'Fn::Join': ['', [Match.stringLikeRegexp("^default-src 'none'; script-src 'self';.*connect-src 'self' https://\\*\\.execute-api\\."), { Ref: 'AWS::Region' }, Match.stringLikeRegexp("frame-ancestors 'none'$")]] }),
            Override: true,
          },
          StrictTransportSecurity: { AccessControlMaxAgeSec: 63_072_000, IncludeSubdomains: true, Preload: true, Override: true },
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
        },
      }),
    });
  });

  it("lets the console's origin call the API (CORS), with API Gateway answering preflights", () => {
    const origin = { 'Fn::Join': ['', ['https://', { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Console:.*ConsoleDistribution.*DomainName/) }]] };
    const [api] = Object.values(prod.api.findResources('AWS::ApiGatewayV2::Api')) as { Properties: { CorsConfiguration: Record<string, unknown> } }[];
    expect(api?.Properties.CorsConfiguration).toEqual({
      AllowOrigins: [origin],
      AllowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      AllowHeaders: ['authorization', 'content-type', 'idempotency-key'],
      ExposeHeaders: ['x-request-id', 'retry-after', 'idempotent-replayed'],
      MaxAge: 600,
    });
    const functions = prod.api.findResources('AWS::Lambda::Function') as Record<string, { Properties: { Environment?: { Variables?: Record<string, unknown> } } }>;
    const apiFunction = Object.entries(functions).find(([logicalId]) => logicalId.startsWith('ApiFunction'))?.[1];
    expect(apiFunction?.Properties.Environment?.Variables?.CORS_ORIGINS).toEqual(origin);
  });

  it('publishes the bundle with a config.json naming the API, and invalidates the distribution (not on the emulator)', () => {
    prod.api.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { 'Fn::Join': ['', ['baton-prod-console-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] },
      SourceMarkers: [{}, { '<<marker:0xbaba:0>>': { 'Fn::GetAtt': [Match.stringLikeRegexp('^HttpApi'), 'ApiEndpoint'] } }],
      DistributionId: { 'Fn::ImportValue': Match.stringLikeRegexp('Baton-prod-Console:.*ConsoleDistribution') },
      DistributionPaths: ['/*'],
      SystemMetadata: { 'cache-control': 'no-cache' },
      Prune: true,
    });
    local.api.resourceCountIs('Custom::CDKBucketDeployment', 0);
  });

  it('grants the publisher the asset bucket (read), the console bucket and invalidations, nothing more', () => {
    const [policy] = Object.entries(prod.api.findResources('AWS::IAM::Policy')).filter(([logicalId]) => logicalId.startsWith('CustomCDKBucketDeployment'));
    const bucketArns = (name: unknown[]) => [
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ...name]] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ...name, '/*']] },
    ];
    expectSameStatements((policy?.[1] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement, [
      { Effect: 'Allow', Action: ['s3:GetObject*', 's3:GetBucket*', 's3:List*'], Resource: bucketArns([':s3:::', { 'Fn::Sub': 'cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}' }]) },
      {
        Effect: 'Allow',
        Action: ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:PutObject', 's3:PutObjectLegalHold', 's3:PutObjectRetention', 's3:PutObjectTagging', 's3:PutObjectVersionTagging', 's3:Abort*'],
        Resource: bucketArns([':s3:::baton-prod-console-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]),
      },
      { Effect: 'Allow', Action: ['cloudfront:GetInvalidation', 'cloudfront:CreateInvalidation'], Resource: '*' },
    ]);
  });
});

describe('queue routes', () => {
  it('tell the API function every queue by its short name, URL and ARN', () => {
    const apiFunction = Object.entries(prod.api.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('ApiFunction'))?.[1] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
    const queues = JSON.stringify(apiFunction.Properties.Environment.Variables.QUEUES);

    for (const name of ['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq']) expect(queues).toContain(`\\"name\\":\\"${name}\\"`);
    for (const queue of ['StepQueue', 'StepDlq', 'StepParkedQueue', 'ReactionsDlq']) expect(queues).toMatch(new RegExp(`${queue}.*Arn`));
  });
});

describe('webhooks', () => {
  it('take their own route and function, which reads the sealing key but not the admin token', () => {
    prod.api.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /v1/webhooks/{provider}/{projectId}' });
    expectSameStatements(policyStatementsOf(prod.api, 'WebhookFunction'), engineStatements('WebhookFunction', [secretStatement('WebhookSecretsKey')]));
  });
});

describe('engine stack', () => {
  it('feeds the step worker from the step queue in batches, reporting partial failures', () => {
    prod.engine.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp('StepQueue') },
      FunctionName: { Ref: Match.stringLikeRegexp('^StepWorkerFunction') },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 50 },
    });
    prod.engine.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp('StepDlq') },
      FunctionName: { Ref: Match.stringLikeRegexp('^DlqHandlerFunction') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it.each(['local', 'prod'])('keeps the worker timeout within the queue visibility timeout (%s)', (stage) => {
    const { stacks } = stage === 'local' ? local : prod;
    const worker = stacks.engine.worker.timeout!.toSeconds();
    const visibility = Object.entries((stage === 'local' ? local : prod).messaging.findResources('AWS::SQS::Queue')).find(([id]) => id.startsWith('StepQueue'))![1] as { Properties: { VisibilityTimeout: number } };

    expect(worker).toBeLessThanOrEqual(visibility.Properties.VisibilityTimeout);
  });

  it.each(['local', 'prod'])('lets no step ask for more time than one worker invocation honours (%s)', (stage) => {
    const { stacks, engine, api } = stage === 'local' ? local : prod;
    const { timing } = readStage({ stage });
    const envOf = (template: Synthesized['engine'], name: RegExp) =>
      (Object.values(template.findResources('AWS::Lambda::Function')).find((resource) => name.test(JSON.stringify(resource))) as { Properties: { Environment: { Variables: Record<string, string> } } }).Properties.Environment.Variables;

    const limit = Number(envOf(api, /baton-api"/).MAX_STEP_TIMEOUT_SECONDS);

    expect(limit).toBe(timing.maxStepTimeoutSeconds);
    expect(Number(envOf(engine, /baton-stepworker"/).MAX_STEP_TIMEOUT_SECONDS)).toBe(limit);
    expect(limit + timing.leaseMarginSeconds).toBeLessThan(stacks.engine.worker.timeout!.toSeconds());
    expect(timingProblems(timing)).toEqual([]);
    expect(timingProblems({ ...timing, maxStepTimeoutSeconds: timing.workerTimeoutSeconds })).toHaveLength(1);
  });

  it('gives the cloud worker Lambda\'s whole 15 minutes and running steps up to 870 s', () => {
    expect(prod.stacks.engine.worker.timeout!.toSeconds()).toBe(900);
    expect(readStage({ stage: 'prod' }).timing.maxStepTimeoutSeconds).toBe(870);
  });

  it('allows loopback agents and the test-only crash kind on the local stage only', () => {
    // Every function that runs the engine (the API's included) has the flags: none may differ.
    const flagsOf = (templates: Synthesized['engine'][]) =>
      templates
        .flatMap((template) => Object.values(template.findResources('AWS::Lambda::Function')) as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }[])
        .map((resource) => resource.Properties.Environment?.Variables ?? {})
        .filter((variables) => 'TEST_EXECUTORS' in variables)
        .map(({ ALLOW_PRIVATE_TARGETS, TEST_EXECUTORS }) => ({ ALLOW_PRIVATE_TARGETS, TEST_EXECUTORS }));

    expect(flagsOf([local.engine, local.api]).length).toBeGreaterThanOrEqual(6);
    expect(new Set(flagsOf([local.engine, local.api]).map((flags) => JSON.stringify(flags)))).toEqual(new Set([JSON.stringify({ ALLOW_PRIVATE_TARGETS: 'true', TEST_EXECUTORS: 'true' })]));
    expect(new Set(flagsOf([prod.engine, prod.api]).map((flags) => JSON.stringify(flags)))).toEqual(new Set([JSON.stringify({ ALLOW_PRIVATE_TARGETS: 'false', TEST_EXECUTORS: 'false' })]));
  });

  it('runs the sweeper on a schedule with the engine grants and nothing more', () => {
    prod.engine.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SweeperFunction'), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
    expectSameStatements(policyStatementsOf(prod.engine, 'SweeperFunction'), engineStatements('SweeperFunction', []));
    // Lost sends: re-sent only once overdue by more than a normal backlog.
    prod.engine.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SWEEP_DISPATCH_GRACE_SECONDS: '300' }) } });
  });

  it('lets EventBridge Scheduler invoke scheduled-start and nothing else', () => {
    prod.engine.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'baton-prod' });
    const roles = prod.engine.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' } })] } } });
    const [roleId] = Object.keys(roles);
    const policies = Object.values(prod.engine.findResources('AWS::IAM::Policy')).filter((policy) => JSON.stringify(policy).includes(`"${roleId}"`));

    expect(policies.map((policy) => (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement)).toEqual([
      [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^ScheduledStartFunction/), 'Arn'] } }],
    ]);
    expectSameStatements(policyStatementsOf(prod.engine, 'ScheduledStartFunction'), engineStatements('ScheduledStartFunction', []));
  });

  it('routes webhook.received from the bus to the reactions, parking what fails in their DLQ', () => {
    const dlq = { 'Fn::GetAtt': [expect.stringMatching(/^ReactionsDlq/), 'Arn'] };
    prod.engine.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { 'Fn::ImportValue': Match.stringLikeRegexp('Baton-prod-Messaging:.*Bus') },
      EventPattern: { source: ['baton'], 'detail-type': ['webhook.received'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhookReactionsFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReactionsDlq'), 'Arn'] } },
        }),
      ],
    });
    prod.engine.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReactionsDlq'), 'Arn'] } } },
    });
    prod.engine.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    // Besides the engine's grants: sending to its on-failure destination.
    expectSameStatements(
      policyStatementsOf(prod.engine, 'WebhookReactionsFunction'),
      engineStatements('WebhookReactionsFunction', [{ Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], Resource: dlq }]),
    );
  });

  it("lets only the stage's trigger rules invoke trigger-start, which has the engine's grants and its DLQ", () => {
    const dlq = { 'Fn::GetAtt': [expect.stringMatching(/^ReactionsDlq/), 'Arn'] };
    const permissions = Object.values(prod.engine.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TriggerStartFunction'), 'Arn'] } } }));
    expect(permissions.map((permission) => (permission as { Properties: unknown }).Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [expect.stringMatching(/^TriggerStartFunction/), 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceAccount: { Ref: 'AWS::AccountId' },
        SourceArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':rule/baton-prod-trigger-*']] },
      },
    ]);
    expectSameStatements(
      policyStatementsOf(prod.engine, 'TriggerStartFunction'),
      engineStatements('TriggerStartFunction', [{ Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], Resource: dlq }]),
    );
    expect(prod.engine.toJSON().Outputs).toMatchObject({ TriggerBusName: { Value: 'default' } });
  });

  it('routes ended runs from the bus to child-finished (sub-workflows), parking what fails in the reactions DLQ', () => {
    const dlq = { 'Fn::GetAtt': [expect.stringMatching(/^ReactionsDlq/), 'Arn'] };
    prod.engine.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { 'Fn::ImportValue': Match.stringLikeRegexp('Baton-prod-Messaging:.*Bus') },
      EventPattern: { source: ['baton'], 'detail-type': ['run.completed', 'run.blocked', 'run.cancelled'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ChildFinishedFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReactionsDlq'), 'Arn'] } },
        }),
      ],
    });
    expectSameStatements(
      policyStatementsOf(prod.engine, 'ChildFinishedFunction'),
      engineStatements('ChildFinishedFunction', [{ Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], Resource: dlq }]),
    );
  });

  it('puts trigger rules on the bus the stage names, refusing a name that is not a bus name', () => {
    expect(readStage({ stage: 'prod' }).triggerBus).toBe('default');
    expect(readStage({ stage: 'prod', triggerBus: 'acme-events' }).triggerBus).toBe('acme-events');
    expect(() => readStage({ stage: 'prod', triggerBus: 'arn:aws:events:us-east-1:123:event-bus/x' })).toThrow(/Invalid triggerBus/);
  });

  it('grants the worker and the DLQ handler the engine and their own queue only, and the worker Bedrock model calls', () => {
    const consume = (queue: string) => ({
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: { 'Fn::ImportValue': expect.stringMatching(new RegExp(`Baton-prod-Messaging:.*${queue}.*Arn`)) },
    });

    // llm steps: Converse on foundation models (any region: cross-region profiles) and the account's inference profiles.
    const bedrock = {
      Effect: 'Allow',
      Action: 'bedrock:InvokeModel',
      Resource: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:*::foundation-model/*']] },
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':inference-profile/*']] },
      ],
    };

    expectSameStatements(policyStatementsOf(prod.engine, 'StepWorkerFunction'), engineStatements('StepWorkerFunction', [invokeAgents(agentPattern), secretsKeyStatement('kms:Decrypt'), readApiUrl, bedrock, consume('StepQueue')]));
    // The DLQ handler also parks what it recorded in steps-parked.
    const parkSend = { Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], Resource: { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Messaging:.*StepParkedQueue.*Arn/) } };
    expectSameStatements(policyStatementsOf(prod.engine, 'DlqHandlerFunction'), engineStatements('DlqHandlerFunction', [consume('StepDlq'), parkSend]));
  });
});

const importedQueueArn = (stack: string, queue: string) => ({ 'Fn::ImportValue': expect.stringMatching(new RegExp(`Baton-prod-${stack}:.*${queue}.*Arn`)) });
/** The /v1/queues routes: counts of every queue, peeks of the peekable ones, the move task from steps-parked. */
const queueStatements = [
  {
    Effect: 'Allow',
    Action: 'sqs:GetQueueAttributes',
    Resource: [importedQueueArn('Messaging', 'StepQueue'), importedQueueArn('Messaging', 'StepDlq'), importedQueueArn('Messaging', 'StepParkedQueue'), importedQueueArn('Engine', 'ReactionsDlq')],
  },
  { Effect: 'Allow', Action: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'], Resource: [importedQueueArn('Messaging', 'StepParkedQueue'), importedQueueArn('Engine', 'ReactionsDlq')] },
  { Effect: 'Allow', Action: ['sqs:StartMessageMoveTask', 'sqs:DeleteMessage'], Resource: importedQueueArn('Messaging', 'StepParkedQueue') },
];

const agentPattern = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':lambda:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':function:baton-agent-*']] };
const invokeAgents = (resources: unknown) => ({ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: resources });

const readApiUrl = {
  Effect: 'Allow',
  Action: 'ssm:GetParameter',
  Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/baton/prod/api-url']] },
};

describe('callbacks', () => {
  it('publishes the API URL in SSM for the worker, which reads exactly that parameter', () => {
    prod.api.hasResourceProperties('AWS::SSM::Parameter', { Name: '/baton/prod/api-url', Type: 'String', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HttpApi'), 'ApiEndpoint'] } });
    const worker = Object.values(prod.engine.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('step worker') } }))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    expect(worker.Properties.Environment.Variables).toMatchObject({ API_URL_PARAMETER: '/baton/prod/api-url' });
  });
});

describe('lambda agents', () => {
  let widened: Synthesized;
  const listed = 'arn:aws:lambda:eu-west-1:444455556666:function:reviewer';
  const alias = 'arn:aws:lambda:eu-west-1:444455556666:function:triage:live';
  beforeAll(() => {
    widened = synthesize('prod', { agentFunctions: `${listed}, ${alias}` });
  });

  it('lets the worker invoke baton-agent-* of its own account and region only, and tells it so', () => {
    const worker = Object.values(prod.engine.findResources('AWS::Lambda::Function', { Properties: { Handler: Match.anyValue(), Description: Match.stringLikeRegexp('step worker') } }))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };

    expect(worker.Properties.Environment.Variables).toMatchObject({ AGENT_FUNCTIONS: agentPattern, AGENT_FUNCTION_ARN_PREFIX: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':lambda:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':function:']] } });
    for (const functionId of ['DlqHandlerFunction', 'SweeperFunction', 'ScheduledStartFunction', 'WebhookReactionsFunction', 'TriggerStartFunction', 'ChildFinishedFunction']) {
      expect(JSON.stringify(policyStatementsOf(prod.engine, functionId))).not.toContain('lambda:InvokeFunction');
    }
    expect(JSON.stringify(policyStatementsOf(prod.api, 'ApiFunction'))).not.toContain('lambda:InvokeFunction');
  });

  it('widens the grant with -c agentFunctions: exactly the listed ARNs, with their versions and aliases', () => {
    const statements = policyStatementsOf(widened.engine, 'StepWorkerFunction');

    expect(statements.filter((statement) => JSON.stringify(statement).includes('lambda:InvokeFunction'))).toEqual([invokeAgents([agentPattern, listed, `${listed}:*`, alias])]);
    expect(JSON.stringify(widened.engine.toJSON())).toContain(`:function:baton-agent-*,${listed},${alias}`);
  });

  it('refuses an agentFunctions entry that is not a Lambda function ARN', () => {
    expect(() => synthesize('prod', { agentFunctions: 'arn:aws:s3:::bucket' })).toThrow(/Invalid agentFunctions entry "arn:aws:s3:::bucket"/);
  });

  it('passes cdk-nag with the widened grant (each wildcard acknowledged with its reason)', () => {
    const report = JSON.parse(readFileSync(join(widened.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: { ruleName: string; severity: string }[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations.filter((violation) => violation.severity === 'error'))).toEqual([]);
  });
});

/** The project secrets key, for one action: the API encrypts, the worker decrypts. */
const secretsKeyStatement = (action: 'kms:Encrypt' | 'kms:Decrypt') => ({
  Effect: 'Allow',
  Action: action,
  Resource: { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Data:.*SecretsKey.*Arn/) },
});

const secretStatement = (secret: string) => ({
  Effect: 'Allow',
  Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
  Resource: { Ref: expect.stringMatching(new RegExp(`^${secret}`)) },
});

/** The statements every engine function has (logs, X-Ray, table, queue send, bus), then its own. */
function engineStatements(functionId: string, extra: unknown[]): unknown[] {
  return [
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${functionId}Logs`)), 'Arn'] } },
    { Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' },
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable',
        'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem',
      ],
      Resource: [
        { 'Fn::ImportValue': expect.stringMatching(new RegExp(`Baton-prod-Data:.*${tableId()}Arn`)) },
        ...tableIndexNames.map((index) => ({ 'Fn::Join': ['', [{ 'Fn::ImportValue': expect.stringMatching(new RegExp(`${tableId()}Arn`)) }, `/index/${index}`]] })),
      ],
    },
    {
      Effect: 'Allow',
      Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      Resource: { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Messaging:.*StepQueue.*Arn/) },
    },
    { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::ImportValue': expect.stringMatching(/Baton-prod-Messaging:.*Bus.*Arn/) } },
    ...extra,
  ];
}

/** The table's logical id, looked up in the data stack (CDK hashes it: never spelled out here). */
function tableId(): string {
  const [id, ...others] = Object.keys(prod.data.findResources('AWS::DynamoDB::GlobalTable'));
  if (!id || others.length) throw new Error('expected exactly one table in the data stack');
  return id;
}

/**
 * The same statements, in any order: CDK's order of statements and of the actions in one is an
 * implementation detail, what is granted is the promise. Each expected statement is matched once.
 */
function expectSameStatements(actual: unknown[], expected: unknown[]): void {
  const sortActions = (statement: unknown) => {
    const action = (statement as { Action?: unknown }).Action;
    return Array.isArray(action) ? { ...(statement as object), Action: [...(action as string[])].sort() } : statement;
  };
  const granted = actual.map(sortActions);
  expect(granted).toHaveLength(expected.length);
  expect(granted).toEqual(expect.arrayContaining(expected.map(sortActions)));
}

function managedPoliciesOf(template: Synthesized['api'], functionId: string): unknown[] {
  const roles = template.findResources('AWS::IAM::Role');
  const entry = Object.entries(roles).find(([logicalId]) => logicalId.startsWith(`${functionId}Role`));
  return (entry?.[1] as { Properties: { ManagedPolicyArns?: unknown[] } }).Properties.ManagedPolicyArns ?? [];
}

/** The statements of the default policy attached to a function's role, by the function's construct id. */
function policyStatementsOf(template: Synthesized['api'], functionId: string): unknown[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const entry = Object.entries(policies).find(([logicalId]) => logicalId.startsWith(`${functionId}RoleDefaultPolicy`));
  if (!entry) throw new Error(`no policy for ${functionId}`);
  return (entry[1] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement;
}

describe('tracing', () => {
  const templates = () => [prod.data, prod.messaging, prod.engine, prod.api, prod.console, prod.operations];
  /** Baton's own functions (BATON_STAGE in their environment), not CDK's deploy-time helpers. */
  const batonFunctions = () =>
    templates().flatMap((template) =>
      Object.entries(template.findResources('AWS::Lambda::Function'))
        .filter(([, resource]) => (resource as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables?.BATON_STAGE)
        .map(([id, resource]) => ({ id, template, properties: (resource as { Properties: Record<string, unknown> }).Properties })),
    );

  it('runs every Baton function with Active X-Ray tracing and the Powertools Tracer settings, its service named', () => {
    const functions = batonFunctions();
    expect(functions.length).toBeGreaterThanOrEqual(9);
    for (const { id, properties } of functions) {
      expect({ id, tracing: properties.TracingConfig }).toEqual({ id, tracing: { Mode: 'Active' } });
      expect({ id, env: (properties.Environment as { Variables: Record<string, unknown> }).Variables }).toEqual({
        id,
        env: expect.objectContaining({ POWERTOOLS_SERVICE_NAME: expect.stringMatching(/^baton-[a-z]+$/), POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false' }),
      });
    }
  });

  it('lets every Baton function send its segments: the X-Ray grant CDK adds for Active tracing, on its own role', () => {
    for (const { id, template, properties } of batonFunctions()) {
      const roleId = (properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const statements = Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify((policy as { Properties: { Roles: unknown[] } }).Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
        .flatMap((policy) => (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement);
      expect({ id, statements }).toEqual({ id, statements: expect.arrayContaining([{ Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' }]) });
    }
  });
});

describe('operations stack', () => {
  let mailed: Synthesized;
  beforeAll(() => {
    mailed = synthesize('prod', { alarmEmail: 'ops@example.com' });
  });

  const topicRef = () => {
    const [id, ...others] = Object.keys(prod.operations.findResources('AWS::SNS::Topic'));
    if (!id || others.length) throw new Error('expected exactly one topic');
    return { Ref: id };
  };

  it('sends every alarm to one topic, encrypted with a rotated key CloudWatch may use, TLS only', () => {
    const [keyId] = Object.keys(prod.operations.findResources('AWS::KMS::Key'));
    prod.operations.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    prod.operations.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        ]),
      },
    });
    prod.operations.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topicRef()],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const alarms = Object.values(prod.operations.findResources('AWS::CloudWatch::Alarm')) as { Properties: { AlarmActions: unknown[] } }[];
    expect(alarms).toHaveLength(alarmIds.length);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
  });

  it('mails the topic only when an alarmEmail is given, and refuses one that is not an address', () => {
    mailed.operations.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: Match.stringLikeRegexp('^AlarmTopic') } });
    prod.operations.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(() => readStage({ stage: 'prod', alarmEmail: 'not-an-address' })).toThrow(/Invalid alarmEmail "not-an-address"/);
  });

  const queueArn = (queue: string) => ({ 'Fn::ImportValue': expect.stringMatching(new RegExp(`${queue}.*QueueName`)) });
  const functionRef = (stack: string, fn: string) => ({ 'Fn::ImportValue': expect.stringMatching(new RegExp(`Baton-prod-${stack}:.*${fn}`)) });
  const { alarms: thresholds } = readStage({ stage: 'prod' });
  const expected: Record<AlarmId, Record<string, unknown>> = {
    StepDeadLettered: { Namespace: 'AWS/SQS', MetricName: 'NumberOfMessagesReceived', Dimensions: [{ Name: 'QueueName', Value: queueArn('StepDlq') }], Statistic: 'Sum', Threshold: 1, EvaluationPeriods: 1 },
    ReactionDeadLettered: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: queueArn('ReactionsDlq') }], Statistic: 'Maximum', Threshold: 1, EvaluationPeriods: 1 },
    StepQueueStale: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: queueArn('StepQueue') }], Statistic: 'Maximum', Threshold: 900, EvaluationPeriods: 2 },
    WorkerErrors: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: functionRef('Engine', 'StepWorkerFunction') }], Statistic: 'Sum', Threshold: 5, EvaluationPeriods: 2 },
    ApiErrors: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: functionRef('Api', 'HttpApi') }], Statistic: 'Sum', Threshold: 10, EvaluationPeriods: 2 },
    SweeperErrors: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: functionRef('Engine', 'SweeperFunction') }], Statistic: 'Sum', Threshold: 2, EvaluationPeriods: 2 },
    LeasesExpired: {
      Namespace: 'Baton',
      MetricName: 'LeasesExpired',
      Dimensions: expect.arrayContaining([{ Name: 'service', Value: 'baton-sweeper' }, { Name: 'stage', Value: 'prod' }]),
      Statistic: 'Sum',
      Threshold: 10,
      EvaluationPeriods: 2,
    },
  };

  it.each(alarmIds)('alarms on %s with its metric, threshold and the topic as its action', (alarmId) => {
    const [alarm] = Object.values(prod.operations.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `baton-prod-${alarmId}` } })) as { Properties: Record<string, unknown> }[];

    expect(alarm?.Properties).toEqual(
      expect.objectContaining({
        ...expected[alarmId],
        Period: thresholds.periodMinutes * 60,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef()],
      }),
    );
  });

  it('takes every threshold from the stage (prod pages on sustained trouble, local on the first sign)', () => {
    expect(thresholds).toEqual({ periodMinutes: 5, evaluationPeriods: 2, oldestStepMessageSeconds: 900, workerErrors: 5, api5xxResponses: 10, sweeperErrors: 2, expiredLeases: 10 });
    local.operations.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'baton-local-StepQueueStale', Threshold: readStage({ stage: 'local' }).alarms.oldestStepMessageSeconds, Period: 60 });
  });

  it('has a dashboard per stage with the queues, the functions and Baton\'s own metrics', () => {
    const [dashboard] = Object.values(prod.operations.findResources('AWS::CloudWatch::Dashboard')) as { Properties: { DashboardName: string; DashboardBody: unknown } }[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);

    expect(dashboard?.Properties.DashboardName).toBe('baton-prod');
    for (const metric of ['ApproximateNumberOfMessagesVisible', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateAgeOfOldestMessage', 'Errors', 'Throttles', 'Duration', '5xx', 'LeasesExpired', 'DispatchesResent', 'CallbacksExpired', 'DeadlinesPassed']) {
      expect(body, metric).toContain(`\\"${metric}\\"`);
    }
    for (const fn of ['StepWorkerFunction', 'DlqHandlerFunction', 'SweeperFunction', 'WebhookReactionsFunction', 'ScheduledStartFunction', 'ApiFunction', 'WebhookFunction']) expect(body, fn).toContain(fn);
  });

  it("graphs every one of Baton's own metrics for its stage: by kind, reason or status class through SEARCH, never by service", () => {
    const [dashboard] = Object.values(prod.operations.findResources('AWS::CloudWatch::Dashboard')) as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } }[];
    // The body is a CloudFormation join of strings and tokens: its literal parts, unescaped, are what CloudWatch reads.
    const text = dashboard!.Properties.DashboardBody['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<token>')).join('').replace(/\\"/g, '"');
    const plain = (name: string) => text.includes(`["Baton","${name}","stage","prod"`);

    for (const [name, { dimension }] of Object.entries(batonMetrics) as [string, { dimension?: string }][]) {
      if (dimension) expect(text, name).toContain(`SEARCH('{Baton,stage,${dimension}} MetricName="${name}" stage="prod"'`);
      else expect(plain(name), name).toBe(true);
    }
    expect(text).toContain(`SUM(SEARCH('{Baton,stage,kind} MetricName="StepsDeadLettered" stage="prod"', 'Sum', 300))`);
    expect(text).toContain(`SEARCH('{Baton,stage,kind} MetricName="StepDuration" stage="prod"', 'p95', 300)`);
    expect(text).toContain(`SEARCH('{Baton,stage,reason} MetricName="RunsBlocked" stage="prod"', 'Sum', 300)`);
    expect(text).not.toMatch(/\{Baton,[^}]*service/);
  });
});
