import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { WebhookProviderName } from '#shared/webhook-providers/registry';
import { keys } from './keys';

/**
 * Project webhook secrets, sealed with AES-256-GCM under a key kept apart from the data (in
 * Secrets Manager): a copy of the table alone reveals no secret. During a rotation the previous
 * secret stays valid beside the new one until the next rotation, so senders can be moved over.
 */
export interface SecretKeySource {
  /** The raw key material; hashed to a 256-bit key, so any generated string will do. */
  keyMaterial: () => Promise<string>;
}

/** Key material read from Secrets Manager (cached 5 minutes by Powertools Parameters). */
export const keyFromSecretsManager = (secrets: { get: (name: string, options: { maxAge: number }) => Promise<unknown> }, secretId: string): SecretKeySource => ({
  keyMaterial: async () => {
    const value = await secrets.get(secretId, { maxAge: 300 });
    if (typeof value !== 'string' || !value) throw new Error('The webhook sealing key secret is empty');
    return value;
  },
});

const seal = (key: Buffer, plain: string): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
};

const open = (key: Buffer, sealed: string): string => {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || !body) throw new Error('unreadable sealed secret');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
};

export const generateWebhookSecret = (): string => `whk_${randomBytes(32).toString('base64url')}`;

export const createWebhookSecretStore = ({ documents, tableName, keySource }: { documents: DynamoDBDocumentClient; tableName: string; keySource: SecretKeySource }) => {
  const key = async () => createHash('sha256').update(await keySource.keyMaterial(), 'utf8').digest();
  return {
    /** Sets a new current secret; the old current one stays valid as `previous`. */
    async rotate(projectId: string, provider: WebhookProviderName, secret: string, now = new Date()): Promise<{ rotatedAt: string; previousStillValid: boolean }> {
      const itemKey = keys.webhookSecret(projectId, provider);
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: itemKey, ConsistentRead: true }));
      const rotatedAt = now.toISOString();
      await documents.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...itemKey, type: 'webhookSecret', provider, current: seal(await key(), secret), ...(Item?.current ? { previous: Item.current as string } : {}), rotatedAt },
          ...(Item ? { ConditionExpression: 'rotatedAt = :seen', ExpressionAttributeValues: { ':seen': Item.rotatedAt as string } } : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return { rotatedAt, previousStillValid: Boolean(Item?.current) };
    },

    /** The secrets a delivery may be signed with: current first, then the previous one. */
    async valid(projectId: string, provider: WebhookProviderName): Promise<string[]> {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.webhookSecret(projectId, provider) }));
      if (!Item?.current) return [];
      const material = await key();
      return [Item.current as string, ...(Item.previous ? [Item.previous as string] : [])].map((sealed) => open(material, sealed));
    },
  };
};

export type WebhookSecretStore = ReturnType<typeof createWebhookSecretStore>;
