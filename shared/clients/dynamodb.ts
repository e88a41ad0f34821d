import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createDocumentClient = (): DynamoDBDocumentClient =>
  // The document client sends the base client's commands through the base stack: meter that.
  DynamoDBDocumentClient.from(traced(attachUsageMeter(new DynamoDBClient(commonClientConfig()))), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
