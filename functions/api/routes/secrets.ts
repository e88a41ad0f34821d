import { NotFoundError, ValidationError } from '#shared/domain/errors';
import { findSecretRefs } from '#shared/domain/secrets';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import { putSecretBody, secretNameParam } from '#shared/schemas/projects';
import { secretListResponse, secretResponse } from '#shared/schemas/responses';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

const secretPath = projectPath.extend({ name: secretNameParam });

/** A secret reference found in a request, with the field a client reads (`body.steps[2].input.bearerToken`). */
export interface SecretReference {
  name: string;
  field: string;
}

/** The secret references in some step inputs; `fieldOf` words where each input sits. */
export const secretReferences = <T>(entries: Iterable<[T, unknown]>, fieldOf: (at: T, path: Array<string | number>) => string): SecretReference[] =>
  [...entries].flatMap(([at, input]) => findSecretRefs(input).map(({ name, path }) => ({ name, field: fieldOf(at, path) })));

/**
 * Refuses (400, naming the field) a reference to a secret the project does not have: a
 * workflow that would fail at its first call is caught when it is saved. The worker checks
 * again at the call (a secret may be deleted since).
 */
export const assertSecretsExist = async (secrets: ProjectSecretStore, projectId: string, references: SecretReference[]): Promise<void> => {
  if (references.length === 0) return;
  const missing = new Set(await secrets.missing(projectId, references.map(({ name }) => name)));
  const first = references.find(({ name }) => missing.has(name));
  if (!first) return;
  throw new ValidationError(
    `${first.field}: the project has no secret "${first.name}": create it with PUT /v1/projects/${projectId}/secrets/${first.name}`,
    first.field,
  );
};

/**
 * Project secrets: set and deleted by admins; listed (names and timestamps, never values) by
 * any role, because editors write the workflows that reference them by name. No response
 * carries a value: it is stored encrypted and read only by the step worker.
 */
export const secretOperations = ({ projects, secrets, outbox }: ApiDeps): Operation[] => [
  operation({
    operationId: 'putSecret',
    method: 'PUT',
    path: '/v1/projects/{projectId}/secrets/{name}',
    summary: 'Set a project secret (created, or its value replaced); the value is never returned',
    tag: 'secrets',
    access: { project: 'admin' },
    params: secretPath,
    body: { schema: putSecretBody, required: true },
    responses: {
      201: { description: 'Created', schema: secretResponse },
      200: { description: 'Replaced: steps resolve the new value from their next call on', schema: secretResponse },
    },
    handler: async ({ params, body, principal }) => {
      if (!(await projects.get(params.projectId))) throw new NotFoundError('Project');
      const set = await secrets.put({ projectId: params.projectId, name: params.name, value: body.value, actor: principal.actor });
      await outbox.publish(set.events);
      return { status: set.created ? 201 : 200, body: set.record };
    },
  }),
  operation({
    operationId: 'listSecrets',
    method: 'GET',
    path: '/v1/projects/{projectId}/secrets',
    summary: "The project's secrets: names and timestamps only",
    tag: 'secrets',
    access: { project: 'viewer' },
    params: projectPath,
    responses: { 200: { description: 'Secrets, by name', schema: secretListResponse } },
    handler: async ({ params }) => ({ status: 200, body: { items: await secrets.list(params.projectId) } }),
  }),
  operation({
    operationId: 'deleteSecret',
    method: 'DELETE',
    path: '/v1/projects/{projectId}/secrets/{name}',
    summary: 'Delete a project secret: steps that still reference it fail with SECRET_NOT_FOUND',
    tag: 'secrets',
    access: { project: 'admin' },
    params: secretPath,
    responses: { 204: { description: 'Deleted' } },
    handler: async ({ params, principal }) => {
      const deleted = await secrets.remove({ projectId: params.projectId, name: params.name, actor: principal.actor });
      if (!deleted) throw new NotFoundError('Secret');
      await outbox.publish(deleted.events);
      return { status: 204 };
    },
  }),
];
