import type { DynamoDBDocumentClient, UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoRateStore, rateItemKeptSeconds } from '#shared/store/rate-store';

/**
 * The rate item's TTL: every take sets `expiresAt` a day past the turn it hands out, so keys
 * templated per customer do not pile up. (The conditions themselves are run against DynamoDB by the
 * store contract, test/e2e/engine-store-contract.test.ts.) `answers` play DynamoDB's replies in
 * order: a failed condition with the item it saw, or the updated attributes.
 */
function rateTable(answers: ({ failedWith: Record<string, unknown> } | { attributes: Record<string, unknown> })[]) {
  const updates: UpdateCommandInput[] = [];
  const documents = {
    send: async ({ input }: { input: UpdateCommandInput }) => {
      updates.push(input);
      const answer = answers.shift() ?? { attributes: {} };
      if ('failedWith' in answer) throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException', Item: answer.failedWith });
      return { Attributes: answer.attributes };
    },
  } as unknown as DynamoDBDocumentClient;
  return { store: createDynamoRateStore({ documents, tableName: 't' }), updates };
}

const now = Date.parse('2026-12-01T12:00:00.000Z');
const expires = (update: UpdateCommandInput | undefined) => update?.ExpressionAttributeValues?.[':expires'] as number;

describe('the DynamoDB rate store keeps a key a day past its last turn', () => {
  it('an idle take sets expiresAt a day after the interval it starts', async () => {
    const { store, updates } = rateTable([{ attributes: {} }]);
    expect(await store.take('prj_1', 'customer-acme', 500, now)).toEqual({ started: true });
    expect(updates[0]?.UpdateExpression).toContain('expiresAt = :expires');
    expect(expires(updates[0])).toBe(Math.ceil((now + 500) / 1000) + rateItemKeptSeconds);
  });

  it('a take behind turns ahead sets expiresAt a day after the turn it reserves', async () => {
    const reservedUntil = now + 3_600_000;
    const { store, updates } = rateTable([{ failedWith: { reservedUntil: { N: String(reservedUntil) }, nextStart: { N: String(now + 1000) } } }, { attributes: { reservedUntil: reservedUntil + 1000 } }]);
    expect(await store.take('prj_1', 'customer-acme', 1000, now)).toEqual({ started: false, turn: reservedUntil });
    expect(updates[1]?.UpdateExpression).toContain('expiresAt = :expires');
    expect(expires(updates[1])).toBe(Math.ceil((reservedUntil + 1000) / 1000) + rateItemKeptSeconds);
  });

  it('a take after a late start sets expiresAt a day after the turn that follows it', async () => {
    const nextStart = now + 700;
    const { store, updates } = rateTable([{ failedWith: { reservedUntil: now - 5, nextStart } }, { attributes: { reservedUntil: nextStart + 1000 } }]);
    expect(await store.take('prj_1', 'agent-x', 1000, now)).toEqual({ started: false, turn: nextStart });
    expect(expires(updates[1])).toBe(Math.ceil((nextStart + 1000) / 1000) + rateItemKeptSeconds);
  });
});
