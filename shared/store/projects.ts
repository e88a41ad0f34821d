import { GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId, newId } from '#shared/domain/ids';
import { generateToken, hashToken, type Role } from '#shared/domain/tokens';
import { defaultProjectSettings, type ProjectSettings, type ProjectSettingsPatch } from '#shared/schemas/projects';
import { jsonAttribute } from './json-attribute';
import { eventItem, type CommittedEvent } from './event-outbox';
import { keys, listingsIndex } from './keys';
import { getInOrder, queryPrefix } from './query';
import type { Page } from './cursor';
import { listingKeys } from './listings';
import type { RateLimit } from './rate-limiter';

export interface Project {
  id: string;
  name: string;
  createdAt: string;
  settings: ProjectSettings;
}

export interface TokenRecord {
  tokenId: string;
  projectId: string;
  role: Role;
  name: string;
  createdAt: string;
  revokedAt?: string;
  /** Its own request rate (the installation default applies when absent). */
  rateLimit?: RateLimit;
}

export interface ProjectStoreDeps {
  documents: DynamoDBDocumentClient;
  tableName: string;
}

export const createProjectStore = ({ documents, tableName }: ProjectStoreDeps) => ({
  /**
   * Creates a project with its first admin token, and the event that records it, in one
   * transaction: either all of it exists afterwards or none of it does.
   */
  async create(input: { name: string; actor: string; now?: Date }) {
    const now = (input.now ?? new Date()).toISOString();
    const project: Project = { id: newId('prj'), name: input.name, createdAt: now, settings: defaultProjectSettings };
    const token = generateToken();
    const tokenRecord: TokenRecord = {
      tokenId: newId('tok'),
      projectId: project.id,
      role: 'admin',
      name: 'initial admin token',
      createdAt: now,
    };
    const event: LifecycleEvent = {
      id: newEventId(),
      type: 'project.created',
      projectId: project.id,
      at: now,
      actor: input.actor,
      detail: { name: project.name },
    };
    const eventKey = keys.projectEvent(project.id, event.id);
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: tableName,
              // Filed in the listings index, so the installation's projects are listed without a scan.
              Item: { ...keys.project(project.id), type: 'project', ...project, [listingsIndex.partitionKey]: listingsIndex.projects, [listingsIndex.sortKey]: project.id },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: tableName,
              Item: { ...keys.token(hashToken(token)), type: 'token', ...tokenRecord },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: tableName,
              Item: { ...keys.projectToken(project.id, tokenRecord.tokenId), type: 'tokenRef', ...tokenRecord, tokenHash: hashToken(token) },
            },
          },
          { Put: { TableName: tableName, Item: eventItem(eventKey, event) } },
        ],
      }),
    );
    return { project, token, tokenRecord, events: [{ key: eventKey, event }] };
  },

  async get(projectId: string): Promise<Project | undefined> {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.project(projectId) }));
    return Item ? toProject(Item) : undefined;
  },

  /** The installation's projects, oldest first: keys from the listings index, then the items. */
  async list(options: { limit: number; cursor?: string }): Promise<Page<Project>> {
    const page = await listingKeys(documents, tableName, {
      partition: listingsIndex.projects,
      limit: options.limit,
      ...(options.cursor ? { cursor: options.cursor } : {}),
      isItemKey: (key) => key.sk === 'META' && key.pk === `PROJECT#${key[listingsIndex.sortKey] as string}`,
    });
    const items = await getInOrder(documents, tableName, page.keys);
    return { items: items.map(toProject), cursor: page.cursor };
  },

  /**
   * Changes some settings (each a separate attribute path, so two admins changing different
   * settings do not overwrite each other); the project must exist. Returns all settings.
   * Every project is created with its settings map, so the nested paths always resolve.
   */
  async updateSettings(projectId: string, patch: Partial<ProjectSettings> | ProjectSettingsPatch): Promise<ProjectSettings | undefined> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return (await this.get(projectId))?.settings;
    try {
      const { Attributes: updated } = await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.project(projectId),
          UpdateExpression: `SET ${entries.map((_, index) => `#settings.#k${index} = :v${index}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#settings': 'settings', ...Object.fromEntries(entries.map(([key], index) => [`#k${index}`, key])) },
          ExpressionAttributeValues: Object.fromEntries(entries.map(([key, value], index) => [`:v${index}`, storedSetting(key, value)])),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return settingsOf(updated?.settings);
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  },

  /**
   * Creates a project token: its lookup item (by hash), its listing item and `token.created`
   * in one transaction. The plain token is returned once and never stored.
   */
  async createToken(input: { projectId: string; name: string; role: Role; rateLimit?: RateLimit; actor: string; now?: Date }) {
    const at = (input.now ?? new Date()).toISOString();
    const token = generateToken();
    const tokenHash = hashToken(token);
    const record: TokenRecord = { tokenId: newId('tok'), projectId: input.projectId, role: input.role, name: input.name, createdAt: at, ...(input.rateLimit ? { rateLimit: input.rateLimit } : {}) };
    const event: LifecycleEvent = { id: newEventId(), type: 'token.created', projectId: input.projectId, at, actor: input.actor, detail: { tokenId: record.tokenId, role: record.role, name: record.name } };
    const eventKey = keys.projectEvent(input.projectId, event.id);
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          { ConditionCheck: { TableName: tableName, Key: keys.project(input.projectId), ConditionExpression: 'attribute_exists(pk)' } },
          { Put: { TableName: tableName, Item: { ...keys.token(tokenHash), type: 'token', ...record }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: tableName, Item: { ...keys.projectToken(input.projectId, record.tokenId), type: 'tokenRef', ...record, tokenHash } } },
          { Put: { TableName: tableName, Item: eventItem(eventKey, event) } },
        ],
      }),
    );
    return { token, record, events: [{ key: eventKey, event }] };
  },

  /** A project's tokens, active and revoked, oldest first; never the token or its hash. */
  async listTokens(projectId: string): Promise<TokenRecord[]> {
    const items = await queryPrefix(documents, tableName, `PROJECT#${projectId}`, 'TOKEN#');
    return items.map(toTokenRecord).sort((a, b) => a.tokenId.localeCompare(b.tokenId));
  },

  /**
   * Revokes a token at once: both its items get `revokedAt` (the lookup item is what every
   * request reads, so the next request with it is refused) with `token.revoked`, in one
   * transaction. Returns undefined for an unknown token, the record unchanged when it was
   * already revoked.
   */
  async revokeToken(input: { projectId: string; tokenId: string; actor: string; now?: Date }): Promise<{ record: TokenRecord; events: CommittedEvent[] } | undefined> {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.projectToken(input.projectId, input.tokenId), ConsistentRead: true }));
    if (!Item) return undefined;
    const current = toTokenRecord(Item);
    if (current.revokedAt) return { record: current, events: [] };
    const at = (input.now ?? new Date()).toISOString();
    const event: LifecycleEvent = { id: newEventId(), type: 'token.revoked', projectId: input.projectId, at, actor: input.actor, detail: { tokenId: input.tokenId } };
    const eventKey = keys.projectEvent(input.projectId, event.id);
    const revoke = (key: { pk: string; sk: string }) => ({
      Update: {
        TableName: tableName,
        Key: key,
        UpdateExpression: 'SET revokedAt = :at',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
        ExpressionAttributeValues: { ':at': at },
      },
    });
    try {
      await documents.send(
        new TransactWriteCommand({
          TransactItems: [
            revoke(keys.projectToken(input.projectId, input.tokenId)),
            revoke(keys.token(Item.tokenHash as string)),
            { Put: { TableName: tableName, Item: eventItem(eventKey, event) } },
          ],
        }),
      );
    } catch (error) {
      // Revoked by a concurrent request: the outcome is the same.
      if ((error as Error).name === 'TransactionCanceledException') return { record: { ...current, revokedAt: at }, events: [] };
      throw error;
    }
    return { record: { ...current, revokedAt: at }, events: [{ key: eventKey, event }] };
  },

  /** The token record behind a plain token, or undefined when unknown or revoked. */
  async findActiveToken(token: string): Promise<TokenRecord | undefined> {
    const { Item } = await documents.send(
      new GetCommand({ TableName: tableName, Key: keys.token(hashToken(token)) }),
    );
    if (!Item || Item.revokedAt) return undefined;
    return toTokenRecord(Item);
  },
});

const toProject = (item: Record<string, unknown>): Project => ({
  id: item.id as string,
  name: item.name as string,
  createdAt: item.createdAt as string,
  settings: settingsOf(item.settings),
});

/**
 * A setting as stored. Prices are any JSON numbers (a schema-valid 5e-324 among them), which a
 * DynamoDB number refuses past ±1e-130 or 38 digits: like other free-form JSON they are kept as a
 * JSON string (json-attribute.ts). Older items hold a map, read as it is.
 */
const storedSetting = (key: string, value: unknown): unknown => (key === 'llmPrices' || key === 'qa' ? jsonAttribute.encode(value) : value);

const settingsOf = (stored: unknown): ProjectSettings => {
  const { llmPrices, qa, ...rest } = (stored ?? {}) as Record<string, unknown>;
  const prices = typeof llmPrices === 'string' ? jsonAttribute.decode(llmPrices) : llmPrices;
  // The default quality gate, as JSON like the prices (its reviewer's input is free-form); null: turned off.
  const gate = typeof qa === 'string' ? jsonAttribute.decode(qa) : undefined;
  return { ...defaultProjectSettings, ...(rest as Partial<ProjectSettings>), ...(prices ? { llmPrices: prices as ProjectSettings['llmPrices'] } : {}), ...(gate ? { qa: gate as ProjectSettings['qa'] } : {}) };
};

const toTokenRecord = (item: Record<string, unknown>): TokenRecord => ({
  tokenId: item.tokenId as string,
  projectId: item.projectId as string,
  role: item.role as Role,
  name: item.name as string,
  createdAt: item.createdAt as string,
  ...(item.revokedAt ? { revokedAt: item.revokedAt as string } : {}),
  ...(item.rateLimit ? { rateLimit: item.rateLimit as RateLimit } : {}),
});

export type ProjectStore = ReturnType<typeof createProjectStore>;
