import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { stack } from './stack';

const config = {
  endpoint: stack.endpoint,
  region: stack.region,
  // Emulators accept any credentials; take the environment's when set (npm test sets them).
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' },
};

/** SDK clients pointed at the emulator the stack is deployed to. */
export const aws = {
  documents: DynamoDBDocumentClient.from(new DynamoDBClient(config)),
  s3: new S3Client({ ...config, forcePathStyle: true }),
  sqs: new SQSClient(config),
  events: new EventBridgeClient(config),
  secrets: new SecretsManagerClient(config),
  lambda: new LambdaClient(config),
  kms: new KMSClient(config),
  scheduler: new SchedulerClient(config),
};
