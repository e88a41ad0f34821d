import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId } from '#shared/domain/ids';
import type { CommittedEvent } from './event-outbox';
import { keys, projectSecretPrefix } from './keys';
import { queryAll } from './query';
import { ConditionFailedError, createTransaction } from './transaction';

/**
 * Project secrets (DESIGN §7): credentials steps reference by name (`{"$secret": "<name>"}`).
 * A value is encrypted with the stack's KMS key before it is written, under an encryption context
 * naming its project and secret, so a ciphertext copied to another project's (or name's) item
 * does not decrypt. The API encrypts and lists; only the step worker decrypts. No method returns
 * a value except `reveal`, which only the worker calls.
 */

/** What a listing shows of a secret: its name and when it was set, never its value. */
export interface SecretRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** Encrypts and decrypts secret values under an encryption context; KMS in the stack, a fake in tests. */
export interface SecretCipher {
  encrypt(plaintext: string, context: Record<string, string>): Promise<string>;
  decrypt(ciphertext: string, context: Record<string, string>): Promise<string>;
}

/** Binds a ciphertext to its project and name. */
const encryptionContext = (projectId: string, name: string) => ({ projectId, secretName: name });

const toRecord = (item: Record<string, unknown>): SecretRecord => ({
  name: item.name as string,
  createdAt: item.createdAt as string,
  updatedAt: item.updatedAt as string,
});

/** Two admins setting one secret at the same moment: each put re-reads and tries again this often. */
const maxPutAttempts = 3;

export interface ProjectSecretStoreDeps {
  documents: DynamoDBDocumentClient;
  tableName: string;
  cipher: SecretCipher;
}

export const createProjectSecretStore = ({ documents, tableName, cipher }: ProjectSecretStoreDeps) => {
  const event = (projectId: string, type: string, actor: string, at: string, detail: Record<string, unknown>): CommittedEvent => {
    const record: LifecycleEvent = { id: newEventId(), type, projectId, at, actor, detail };
    return { key: keys.projectEvent(projectId, record.id), event: record };
  };

  return {
    /**
     * Sets a secret (created, or its value replaced, keeping createdAt) with `secret.set`, in one
     * transaction. The value is encrypted first and exists in plain text nowhere else.
     */
    async put(input: { projectId: string; name: string; value: string; actor: string; now?: Date }): Promise<{ record: SecretRecord; created: boolean; events: CommittedEvent[] }> {
      const key = keys.projectSecret(input.projectId, input.name);
      const ciphertext = await cipher.encrypt(input.value, encryptionContext(input.projectId, input.name));
      for (let attempt = 1; ; attempt++) {
        const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
        const at = (input.now ?? new Date()).toISOString();
        const record: SecretRecord = { name: input.name, createdAt: (Item?.createdAt as string | undefined) ?? at, updatedAt: at };
        const created = !Item;
        const tx = createTransaction(documents, tableName);
        // Created only if still absent, replaced only if nobody replaced it meanwhile.
        if (created) tx.put({ ...key, type: 'secret', ...record, ciphertext }, 'attribute_not_exists(pk)');
        else tx.put({ ...key, type: 'secret', ...record, ciphertext }, 'updatedAt = :seen', { ':seen': Item.updatedAt as string });
        const set = event(input.projectId, 'secret.set', input.actor, at, { name: input.name, created });
        tx.event(set.key, set.event);
        try {
          return { record, created, events: await tx.commit() };
        } catch (error) {
          if (!(error instanceof ConditionFailedError) || attempt >= maxPutAttempts) throw error;
        }
      }
    },

    /** A project's secrets, by name: names and timestamps only. */
    async list(projectId: string): Promise<SecretRecord[]> {
      const items = await queryNames(documents, tableName, projectId);
      return items.map(toRecord).sort((a, b) => a.name.localeCompare(b.name));
    },

    /** Deletes a secret with `secret.deleted`; undefined when there is no such secret. */
    async remove(input: { projectId: string; name: string; actor: string; now?: Date }): Promise<{ events: CommittedEvent[] } | undefined> {
      const at = (input.now ?? new Date()).toISOString();
      const tx = createTransaction(documents, tableName);
      tx.delete(keys.projectSecret(input.projectId, input.name), 'attribute_exists(pk)');
      const deleted = event(input.projectId, 'secret.deleted', input.actor, at, { name: input.name });
      tx.event(deleted.key, deleted.event);
      try {
        return { events: await tx.commit() };
      } catch (error) {
        if (error instanceof ConditionFailedError) return undefined;
        throw error;
      }
    },

    /** Which of these names the project has no secret for. */
    async missing(projectId: string, names: Iterable<string>): Promise<string[]> {
      const wanted = [...new Set(names)];
      if (wanted.length === 0) return [];
      const stored = new Set((await queryNames(documents, tableName, projectId)).map((item) => item.name as string));
      return wanted.filter((name) => !stored.has(name));
    },

    /** The value of a secret, decrypted; undefined when there is no such secret. For the step worker only. */
    async reveal(projectId: string, name: string): Promise<string | undefined> {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.projectSecret(projectId, name), ConsistentRead: true }));
      if (!Item) return undefined;
      return cipher.decrypt(Item.ciphertext as string, encryptionContext(projectId, name));
    },
  };
};

/** The secrets' items without their ciphertexts: listings and existence checks never read them. */
const queryNames = (documents: DynamoDBDocumentClient, tableName: string, projectId: string) =>
  queryAll(documents, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ProjectionExpression: '#name, createdAt, updatedAt',
    ExpressionAttributeNames: { '#name': 'name' },
    ExpressionAttributeValues: { ':pk': keys.project(projectId).pk, ':prefix': projectSecretPrefix },
  });

export type ProjectSecretStore = ReturnType<typeof createProjectSecretStore>;
