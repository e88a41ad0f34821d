import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { HttpRequest, HttpResponse } from '@smithy/types';
import { attachUsageMeter } from '#shared/clients/usage-meter';

/**
 * DynamoDB at the HTTP layer, so the real client and the usage meter run: a PutItem consumes the
 * write units its item's `units` attribute names (as a bigger item would).
 */
export const meteredTable = () =>
  DynamoDBDocumentClient.from(
    attachUsageMeter(
      new DynamoDBClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
        requestHandler: {
          handle: async (request: HttpRequest): Promise<{ response: HttpResponse }> => {
            const text = request.body instanceof Uint8Array ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString('utf8') : String(request.body);
            const body = JSON.parse(text) as { Item?: { units?: { N: string } } };
            const units = Number(body.Item?.units?.N ?? 1);
            return { response: { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Buffer.from(JSON.stringify({ ConsumedCapacity: { TableName: 't', CapacityUnits: units } })) } };
          },
          updateHttpClientConfig: () => undefined,
          httpHandlerConfigs: () => ({}),
        },
      }),
    ),
  );

