import { Logger } from '@aws-lambda-powertools/logger';
import { newId } from '#shared/domain/ids';
import { generateToken, hashToken } from '#shared/domain/tokens';
import { defaultProjectSettings } from '#shared/schemas/projects';
import type { EventOutbox } from '#shared/store/event-outbox';
import { keys } from '#shared/store/keys';
import type { Project, ProjectStore, TokenRecord } from '#shared/store/projects';

/** An in-memory ProjectStore for unit tests (the real one is exercised by the e2e suite). */
export function fakeProjectStore(): ProjectStore & { projects: Map<string, Project>; tokens: Map<string, TokenRecord> } {
  const projects = new Map<string, Project>();
  const tokens = new Map<string, TokenRecord>();
  return {
    projects,
    tokens,
    async create({ name, actor }) {
      const now = new Date().toISOString();
      const project: Project = { id: newId('prj'), name, createdAt: now, settings: { ...defaultProjectSettings } };
      const token = generateToken();
      const tokenRecord: TokenRecord = { tokenId: newId('tok'), projectId: project.id, role: 'admin', name: 'initial admin token', createdAt: now };
      projects.set(project.id, project);
      tokens.set(hashToken(token), tokenRecord);
      const event = { id: newId('evt'), type: 'project.created', projectId: project.id, at: now, actor, detail: { name } };
      return { project, token, tokenRecord, events: [{ key: keys.projectEvent(project.id, event.id), event }] };
    },
    async get(projectId) {
      return projects.get(projectId);
    },
    async list({ limit }) {
      return { items: [...projects.values()].slice(0, limit) };
    },
    async findActiveToken(token) {
      const record = tokens.get(hashToken(token));
      return record?.revokedAt ? undefined : record;
    },
    async createToken({ projectId, name, role, rateLimit, actor }) {
      if (!projects.has(projectId)) throw new Error('no such project');
      const now = new Date().toISOString();
      const token = generateToken();
      const record: TokenRecord = { tokenId: newId('tok'), projectId, role, name, createdAt: now, ...(rateLimit ? { rateLimit } : {}) };
      tokens.set(hashToken(token), record);
      const event = { id: newId('evt'), type: 'token.created', projectId, at: now, actor, detail: { tokenId: record.tokenId } };
      return { token, record: { ...record }, events: [{ key: keys.projectEvent(projectId, event.id), event }] };
    },
    async listTokens(projectId) {
      return [...tokens.values()].filter((record) => record.projectId === projectId).map((record) => ({ ...record }));
    },
    async revokeToken({ projectId, tokenId, actor }) {
      const record = [...tokens.values()].find((candidate) => candidate.projectId === projectId && candidate.tokenId === tokenId);
      if (!record) return undefined;
      if (record.revokedAt) return { record: { ...record }, events: [] };
      record.revokedAt = new Date().toISOString();
      const event = { id: newId('evt'), type: 'token.revoked', projectId, at: record.revokedAt, actor, detail: { tokenId } };
      return { record: { ...record }, events: [{ key: keys.projectEvent(projectId, event.id), event }] };
    },
    async updateSettings(projectId, patch) {
      const project = projects.get(projectId);
      if (!project) return undefined;
      const { qa, ...rest } = patch;
      project.settings = { ...project.settings, ...rest, ...(qa ? { qa } : {}) };
      if (qa === null) delete project.settings.qa;
      return project.settings;
    },
  };
}

export function fakeOutbox(): EventOutbox & { published: string[] } {
  const published: string[] = [];
  return {
    published,
    async publish(events) {
      published.push(...events.map(({ event }) => event.type));
      return events;
    },
  };
}

export const silentLogger = (): Logger => new Logger({ logLevel: 'SILENT' });
