import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keys } from '#shared/store/keys';
import { aws } from '../helpers/aws';
import { subscribeToBus, type BusSubscription } from '../helpers/bus';
import { eventually } from '../helpers/poll';
import { createProject } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

describe('project creation through the deployed stack', () => {
  it('writes the project, a hashed token and its event record to DynamoDB, never the plain token', async () => {
    const project = await createProject('stored');

    const items = await aws.documents.send(
      new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.project(project.id).pk } }),
    );
    const everything = await aws.documents.send(new ScanCommand({ TableName: stack.tableName }));

    const kinds = (items.Items ?? []).map((item) => String(item.sk).split('#')[0]).sort();
    expect(kinds).toEqual(['EVENT', 'META', 'TOKEN']);
    expect(JSON.stringify(everything.Items)).not.toContain(project.adminToken.token);
    expect((everything.Items ?? []).some((item) => String(item.pk).startsWith(keys.token('').pk))).toBe(true);
  });

  describe('with a subscriber rule on the Baton bus', () => {
    let subscriber: BusSubscription;
    beforeAll(async () => {
      subscriber = await subscribeToBus(`e2e-subscriber-${Date.now()}`, { source: ['baton'] });
    });
    afterAll(async () => {
      await subscriber.remove();
    });

    it('publishes project.created on the bus and marks the event record published', async () => {
      const project = await createProject('evented');

      const delivered = await eventually('project.created on the subscriber queue', async () =>
        (await subscriber.receive()).find((event) => event.detail.projectId === project.id),
      );
      const records = await aws.documents.send(
        new QueryCommand({
          TableName: stack.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :event)',
          ExpressionAttributeValues: { ':pk': keys.project(project.id).pk, ':event': keys.projectEvent(project.id, '').sk },
        }),
      );

      expect(delivered.source).toBe('baton');
      expect(delivered['detail-type']).toBe('project.created');
      expect(records.Items).toHaveLength(1);
      expect(records.Items?.[0]).toMatchObject({ id: delivered.detail.id, type: 'project.created', publishedAt: expect.any(String) });
      expect(records.Items?.[0]?.outboxPk).toBeUndefined();
    });
  });
});
