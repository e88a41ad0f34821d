import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { artifactPrefix } from '#shared/store/artifacts';
import { listingsIndex, outboxIndex, timersIndex } from '#shared/store/keys';
import { AccessLogBucket } from '../constructs/access-log-bucket';
import type { Stage } from '../stage';

export interface DataStackProps extends StackProps {
  stage: Stage;
}

/** State and artifacts: the single DynamoDB table and the artifacts bucket. */
export class DataStack extends Stack {
  readonly table: TableV2;
  readonly artifacts: Bucket;
  /** Read and write of Baton's objects (under `projects/`) in the artifacts bucket, and nothing else. */
  readonly artifactsAccess: ManagedPolicy;
  /** Encrypts project secrets: the API function may only encrypt with it, the step worker only decrypt. */
  readonly secretsKey: Key;

  constructor(scope: Construct, id: string, { stage, ...props }: DataStackProps) {
    super(scope, id, props);
    const removalPolicy = stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: !stage.isLocal,
      removalPolicy,
      globalSecondaryIndexes: [
        // A project's runs by time (and status, by filter): gsi1pk = PROJECT#p#RUNS, gsi1sk = run id (ULID).
        { indexName: 'gsi1', partitionKey: { name: 'gsi1pk', type: AttributeType.STRING }, sortKey: { name: 'gsi1sk', type: AttributeType.STRING } },
        // Sparse: events committed but not yet published to the bus.
        { indexName: outboxIndex.name, partitionKey: { name: outboxIndex.partitionKey, type: AttributeType.STRING }, sortKey: { name: outboxIndex.sortKey, type: AttributeType.STRING } },
        // Sparse: due timers (step deadlines, not-before times, lease expiries) for the sweeper.
        { indexName: timersIndex.name, partitionKey: { name: timersIndex.partitionKey, type: AttributeType.STRING }, sortKey: { name: timersIndex.sortKey, type: AttributeType.STRING } },
        // Sparse, keys only, overloaded: the projects, each project's approval inbox and event feed
        // (shared/store/keys.ts says why keys only).
        {
          indexName: listingsIndex.name,
          partitionKey: { name: listingsIndex.partitionKey, type: AttributeType.STRING },
          sortKey: { name: listingsIndex.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });

    const accessLogs = new AccessLogBucket(this, 'ArtifactsAccessLogs', { removalPolicy });

    this.artifacts = new Bucket(this, 'Artifacts', {
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy,
    });

    const objects = `${this.artifacts.bucketArn}/${artifactPrefix}*`;
    this.artifactsAccess = new ManagedPolicy(this, 'ArtifactsAccess', {
      description: 'Baton functions: read and write step outputs and artifacts',
      statements: [new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [objects] })],
    });
    const bucketId = this.getLogicalId(this.artifacts.node.defaultChild as CfnBucket);
    Validations.of(this.artifactsAccess).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${artifactPrefix}*]`,
      reason: 'Object keys are created per project/run/step/attempt at run time; the grant is limited to that prefix and to get/put.',
    });

    // With the data it protects: a ciphertext in the table is worthless without its key. The key
    // policy is the account default (IAM decides); the grants are per function (infra/stacks).
    this.secretsKey = new Key(this, 'SecretsKey', {
      description: `Baton ${stage.name}: encrypts project secrets`,
      enableKeyRotation: true,
      removalPolicy,
      ...(stage.isLocal ? { pendingWindow: Duration.days(7) } : {}),
    });

    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.artifacts.bucketName });
  }
}
