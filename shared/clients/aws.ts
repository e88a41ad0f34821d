import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SSMClient } from '@aws-sdk/client-ssm';
import { attachUsageMeter } from '#shared/clients/usage-meter';

/**
 * SDK client factories. The SDK reads AWS_ENDPOINT_URL by itself (real AWS leaves it unset;
 * LocalStack and MiniStack set it inside Lambdas, scripts and tests set it for the emulator).
 * The one thing the SDK cannot infer is S3 addressing: emulators serve buckets path-style only.
 * Every client carries the usage meter, which records only inside a `meterUsage` scope.
 */
const endpointOverride = (): string | undefined => process.env.AWS_ENDPOINT_URL || undefined;

const common = () => ({ maxAttempts: 3 });

export const createDocumentClient = (): DynamoDBDocumentClient =>
  // The document client sends the base client's commands through the base stack: meter that.
  DynamoDBDocumentClient.from(attachUsageMeter(new DynamoDBClient(common())), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });

export const createS3Client = (): S3Client =>
  attachUsageMeter(new S3Client({ ...common(), forcePathStyle: endpointOverride() !== undefined }));

export const createSqsClient = (): SQSClient => attachUsageMeter(new SQSClient(common()));

export const createEventBridgeClient = (): EventBridgeClient => attachUsageMeter(new EventBridgeClient(common()));

export const createSecretsClient = (): SecretsManagerClient => attachUsageMeter(new SecretsManagerClient(common()));

export const createSchedulerClient = (): SchedulerClient => attachUsageMeter(new SchedulerClient(common()));

/**
 * Agent invocations (`lambda` steps). No SDK retries: an invocation that failed after the
 * function ran must not silently run it again within one attempt; Baton's retry policy decides
 * (backoff, Retry-After, a recorded attempt each time).
 */
export const createLambdaClient = (): LambdaClient => attachUsageMeter(new LambdaClient({ maxAttempts: 1 }));

export const createBedrockRuntimeClient = (): BedrockRuntimeClient => attachUsageMeter(new BedrockRuntimeClient(common()));

export const createKmsClient = (): KMSClient => attachUsageMeter(new KMSClient(common()));

export const createSsmClient = (): SSMClient => attachUsageMeter(new SSMClient(common()));
