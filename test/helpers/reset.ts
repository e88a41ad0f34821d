import { ListObjectsV2Command, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { aws } from './aws';
import { stack } from './stack';

/**
 * Empties the deployed stack's data (table, artifacts, queues) so every test starts clean
 * without a redeploy.
 */
export async function resetData(): Promise<void> {
  await Promise.all([emptyTable(), emptyBucket(), purge(stack.stepQueueUrl), purge(stack.stepDlqUrl)]);
}

async function emptyTable(): Promise<void> {
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await aws.documents.send(
      new ScanCommand({ TableName: stack.tableName, ProjectionExpression: 'pk, sk', ExclusiveStartKey: cursor }),
    );
    const keys = (page.Items ?? []).map((item) => ({ pk: item.pk as string, sk: item.sk as string }));
    for (let start = 0; start < keys.length; start += 25) {
      await aws.documents.send(
        new BatchWriteCommand({
          RequestItems: { [stack.tableName]: keys.slice(start, start + 25).map((Key) => ({ DeleteRequest: { Key } })) },
        }),
      );
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
}

async function emptyBucket(): Promise<void> {
  let token: string | undefined;
  do {
    const page = await aws.s3.send(new ListObjectsV2Command({ Bucket: stack.artifactsBucket, ContinuationToken: token }));
    const objects = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (objects.length > 0) {
      await aws.s3.send(new DeleteObjectsCommand({ Bucket: stack.artifactsBucket, Delete: { Objects: objects } }));
    }
    token = page.NextContinuationToken;
  } while (token);
}

async function purge(queueUrl: string): Promise<void> {
  await aws.sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
}
