import { GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { newEventId, newId } from '#shared/domain/ids';
import { generateToken, hashToken, type Role } from '#shared/domain/tokens';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import { eventItem } from './event-outbox';
import { keys } from './keys';

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
              Item: { ...keys.project(project.id), type: 'project', ...project },
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
              Item: { ...keys.projectToken(project.id, tokenRecord.tokenId), type: 'tokenRef', ...tokenRecord },
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
    if (!Item) return undefined;
    return {
      id: Item.id as string,
      name: Item.name as string,
      createdAt: Item.createdAt as string,
      settings: { ...defaultProjectSettings, ...(Item.settings as Partial<ProjectSettings> | undefined) },
    };
  },

  /**
   * Changes some settings (each a separate attribute path, so two admins changing different
   * settings do not overwrite each other); the project must exist. Returns all settings.
   * Every project is created with its settings map, so the nested paths always resolve.
   */
  async updateSettings(projectId: string, patch: Partial<ProjectSettings>): Promise<ProjectSettings | undefined> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined);
    try {
      const { Attributes: updated } = await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.project(projectId),
          UpdateExpression: `SET ${entries.map((_, index) => `#settings.#k${index} = :v${index}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#settings': 'settings', ...Object.fromEntries(entries.map(([key], index) => [`#k${index}`, key])) },
          ExpressionAttributeValues: Object.fromEntries(entries.map(([, value], index) => [`:v${index}`, value])),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { ...defaultProjectSettings, ...(updated?.settings as Partial<ProjectSettings> | undefined) };
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  },

  /** The token record behind a plain token, or undefined when unknown or revoked. */
  async findActiveToken(token: string): Promise<TokenRecord | undefined> {
    const { Item } = await documents.send(
      new GetCommand({ TableName: tableName, Key: keys.token(hashToken(token)) }),
    );
    if (!Item || Item.revokedAt) return undefined;
    return {
      tokenId: Item.tokenId as string,
      projectId: Item.projectId as string,
      role: Item.role as Role,
      name: Item.name as string,
      createdAt: Item.createdAt as string,
    };
  },
});

export type ProjectStore = ReturnType<typeof createProjectStore>;
