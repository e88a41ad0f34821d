import { DecryptCommand } from '@aws-sdk/client-kms';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { keys } from '#shared/store/keys';
import { logFile } from '../../scripts/lib/emulator';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient } from '../helpers/engine';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server';
import { batonClient } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
let modelServer: OpenAiServer;
beforeAll(async () => {
  modelServer = await startOpenAiServer();
});
afterAll(async () => {
  await modelServer.close();
});
beforeEach(resetData);

/** A new token of the project with `role`, as a client of its own. */
const createToken = async (client: EngineClient, role: 'viewer' | 'editor') =>
  batonClient((await unwrap(client.baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId: client.projectId } }, body: { name: role, role } }))).token);

const putSecret = (client: EngineClient, name: string, value: string, as = client.baton) =>
  as.PUT('/v1/projects/{projectId}/secrets/{name}', { params: { path: { projectId: client.projectId, name } }, body: { value } });

const deleteSecret = (client: EngineClient, name: string, as = client.baton) =>
  as.DELETE('/v1/projects/{projectId}/secrets/{name}', { params: { path: { projectId: client.projectId, name } } });

const listSecrets = async (client: EngineClient, as = client.baton) => (await unwrap(as.GET('/v1/projects/{projectId}/secrets', { params: { path: { projectId: client.projectId } } }))).items;

const saveWorkflow = (client: EngineClient, steps: SaveWorkflowBody['steps'], name = 'secrets') =>
  client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: client.projectId } }, body: { name, steps } });

/** A value nobody could guess, so finding it anywhere means it leaked from this test. */
const canaryValue = () => `canary-${randomBytes(18).toString('base64url')}`;

describe('project secrets on the deployed stack', () => {
  it('sets, replaces, lists and deletes a secret without ever answering its value; only admins change them', async () => {
    const client = await engineClient('secrets');
    const viewer = await createToken(client, 'viewer');
    const editor = await createToken(client, 'editor');
    const value = canaryValue();

    const created = await putSecret(client, 'agent-token', value);
    const replaced = await putSecret(client, 'agent-token', `${value}-2`);
    const byViewer = await putSecret(client, 'agent-token', 'x', viewer);
    const byEditor = await putSecret(client, 'other', 'x', editor);
    const tooLong = await putSecret(client, 'long', 'x'.repeat(8193));
    const empty = await putSecret(client, 'empty', '');
    const listedByViewer = await listSecrets(client, viewer);
    const viewerDeletes = await deleteSecret(client, 'agent-token', viewer);

    expect(created.response.status).toBe(201);
    expect(created.data).toEqual({ name: 'agent-token', createdAt: expect.any(String), updatedAt: created.data?.createdAt });
    expect(replaced.response.status).toBe(200);
    expect(replaced.data).toEqual({ name: 'agent-token', createdAt: created.data?.createdAt, updatedAt: expect.any(String) });
    expect(Date.parse(replaced.data!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.data!.createdAt));
    expect([byViewer.response.status, byEditor.response.status, viewerDeletes.response.status]).toEqual([403, 403, 403]);
    expect(tooLong.response.status).toBe(400);
    expect(tooLong.error?.error).toMatchObject({ field: 'body.value', message: expect.stringContaining('8192') });
    expect(empty.response.status).toBe(400);
    expect(listedByViewer).toEqual([replaced.data]);
    expect(JSON.stringify([created.data, replaced.data, listedByViewer])).not.toContain(value);

    const deleted = await deleteSecret(client, 'agent-token');
    const again = await deleteSecret(client, 'agent-token');

    expect(deleted.response.status).toBe(204);
    expect(deleted.data).toBeUndefined();
    expect(again.response.status).toBe(404);
    expect(again.error?.error.code).toBe('not_found');
    expect(await listSecrets(client)).toEqual([]);
  });

  it('stores only a KMS ciphertext bound to its project and name, and records events without the value', async () => {
    const client = await engineClient('sealed');
    const value = canaryValue();

    expect((await putSecret(client, 'api-key', value)).response.status).toBe(201);
    expect((await deleteSecret(client, 'api-key')).response.status).toBe(204);
    expect((await putSecret(client, 'api-key', value)).response.status).toBe(201);
    const { Item } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: keys.projectSecret(client.projectId, 'api-key') }));
    const ciphertext = Buffer.from(Item?.ciphertext as string, 'base64');
    const decrypt = (projectId: string, secretName: string) =>
      aws.kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { projectId, secretName } })).then(
        ({ Plaintext }) => Buffer.from(Plaintext!).toString('utf8'),
        (error: Error) => error.name,
      );
    const { Items: events = [] } = await aws.documents.send(
      new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :events)', ExpressionAttributeValues: { ':pk': keys.project(client.projectId).pk, ':events': keys.projectEvent(client.projectId, '').sk } }),
    );

    expect(JSON.stringify(Item)).not.toContain(value);
    expect(await decrypt(client.project.id, 'api-key')).toBe(value);
    // Moved to another project, or to another name, the ciphertext does not decrypt.
    expect(await decrypt('prj_00000000000000000000000000', 'api-key')).toBe('InvalidCiphertextException');
    expect(await decrypt(client.project.id, 'other-key')).toBe('InvalidCiphertextException');
    expect(events.map((event) => [event.type as string, event.detail as unknown])).toEqual([
      ['project.created', expect.anything()],
      ['secret.set', { name: 'api-key', created: true }],
      ['secret.deleted', { name: 'api-key' }],
      ['secret.set', { name: 'api-key', created: true }],
    ]);
    expect(JSON.stringify(events)).not.toContain(value);
  });

  it('refuses a literal bearerToken, and a reference to a secret the project does not have, naming the field', async () => {
    const client = await engineClient('references');
    expect((await putSecret(client, 'known', 'v')).response.status).toBe(201);
    const url = `${testAgent().url}/ok`;

    const literal = await saveWorkflow(client, [{ id: 'call', kind: 'http', input: { url, bearerToken: 'sk-literal-token' } }]);
    const unknownToken = await saveWorkflow(client, [
      { id: 'a', kind: 'noop' },
      { id: 'b', kind: 'noop' },
      { id: 'call', kind: 'http', input: { url, bearerToken: { $secret: 'missing' } } },
    ]);
    const unknownHeader = await saveWorkflow(client, [{ id: 'call', kind: 'http', input: { url, bearerToken: { $secret: 'known' }, headers: { 'X-Api-Key': { $secret: 'nope' } } } }]);
    // Anywhere in any kind's input: the check walks the input, not one kind's schema.
    const nested = await saveWorkflow(client, [{ id: 'note', kind: 'noop', input: { deep: [{ ref: { $secret: 'absent' } }] } }]);
    // A YAML body, sent as text (the SDK's types describe the JSON form).
    const yaml = await client.baton.POST('/v1/projects/{projectId}/workflows', {
      params: { path: { projectId: client.projectId } },
      headers: { 'content-type': 'application/yaml' },
      body: `name: yaml\nsteps:\n  - id: call\n    kind: http\n    input:\n      url: ${url}\n      bearerToken:\n        $secret: ghost\n` as unknown as SaveWorkflowBody,
      bodySerializer: (body: unknown) => body as string,
    });
    const known = await saveWorkflow(client, [{ id: 'call', kind: 'http', input: { url, bearerToken: { $secret: 'known' }, headers: { 'X-Team': 'blue' } } }]);

    expect(literal.response.status).toBe(400);
    expect(literal.error?.error).toMatchObject({ code: 'validation_error', field: 'body.steps[0].input.bearerToken' });
    expect(literal.error?.error.message).toBe(
      'body.steps[0].input.bearerToken: must be a secret reference {"$secret": "<name>"}: store the token with PUT /v1/projects/{projectId}/secrets/{name}',
    );
    expect(JSON.stringify(literal.error)).not.toContain('sk-literal-token');
    expect(unknownToken.response.status).toBe(400);
    expect(unknownToken.error?.error).toMatchObject({ field: 'body.steps[2].input.bearerToken', message: expect.stringContaining('"missing"') });
    expect(unknownHeader.response.status).toBe(400);
    expect(unknownHeader.error?.error.field).toBe('body.steps[0].input.headers["X-Api-Key"]');
    expect(nested.response.status).toBe(400);
    expect(nested.error?.error.field).toBe('body.steps[0].input.deep[0].ref');
    expect(yaml.response.status).toBe(400);
    expect(yaml.error?.error.field).toBe('body.steps[0].input.bearerToken');
    expect(known.response.status).toBe(201);
  });

  it('resolves secrets only in the worker: the agent and the model server get them, a viewer and the emulator log never see them', async () => {
    const client = await engineClient('canary');
    const viewer = await createToken(client, 'viewer');
    const canary = canaryValue();
    const headerCanary = canaryValue();
    const modelCanary = canaryValue();
    expect((await putSecret(client, 'agent-token', canary)).response.status).toBe(201);
    expect((await putSecret(client, 'agent-key', headerCanary)).response.status).toBe(201);
    expect((await putSecret(client, 'model-key', modelCanary)).response.status).toBe(201);
    const saved = await saveWorkflow(client, [
      {
        id: 'call',
        kind: 'http',
        input: { url: `${testAgent().url}/ok`, body: { task: 'summarise' }, bearerToken: { $secret: 'agent-token' }, headers: { 'X-Api-Key': { $secret: 'agent-key' } } },
      },
      {
        id: 'ask',
        kind: 'llm',
        dependsOn: ['call'],
        input: { provider: 'openai', baseUrl: modelServer.url, model: 'gpt-4o-mini', prompt: 'Say hello', maxTokens: 20, apiKey: { $secret: 'model-key' } },
      },
      { id: 'after', kind: 'noop', dependsOn: ['ask'] },
    ]);
    expect(saved.response.status, JSON.stringify(saved.error)).toBe(201);
    const workflowId = saved.data!.id;

    const { id: runId } = await client.run(workflowId);
    const run = await client.waitFor(runId, ['completed', 'blocked']);
    const received = testAgent().requests.filter((request) => request.idempotencyKey?.startsWith(`${runId}:call:`));
    const read = async (path: string, call: Promise<{ data?: unknown; error?: unknown; response: Response }>) => {
      const { data, error, response } = await call;
      return { path, status: response.status, text: JSON.stringify(data ?? error) };
    };
    const projectId = client.projectId;
    const responses = await Promise.all([
      read('workflow', viewer.GET('/v1/projects/{projectId}/workflows/{workflowId}', { params: { path: { projectId, workflowId } } })),
      read('run', viewer.GET('/v1/runs/{runId}', { params: { path: { runId } } })),
      read('steps', viewer.GET('/v1/runs/{runId}/steps', { params: { path: { runId } } })),
      ...['call', 'ask', 'after'].map((stepId) => read(`step ${stepId}`, viewer.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } } }))),
      read('events', viewer.GET('/v1/runs/{runId}/events', { params: { path: { runId }, query: { order: 'asc', limit: 200 } } })),
      read('secrets', viewer.GET('/v1/projects/{projectId}/secrets', { params: { path: { projectId } } })),
    ]);

    expect(run.status).toBe('completed');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ authorization: `Bearer ${canary}`, headers: { 'x-api-key': headerCanary } });
    expect(modelServer.requests.map((request) => request.authorization)).toEqual([`Bearer ${modelCanary}`]);
    expect(responses.map(({ path, status }) => [path, status])).toEqual(responses.map(({ path }) => [path, 200]));
    // The viewer sees the references, never the values.
    expect(responses[0].text).toContain('{"$secret":"agent-token"}');
    for (const { path, text } of responses) {
      for (const value of [canary, headerCanary, modelCanary]) expect(text, path).not.toContain(value);
    }
    // Everything the emulator and the Lambdas wrote (requests, invocations, function logs), after the run.
    expect(existsSync(logFile()) || Boolean(process.env.AWS_ENDPOINT_URL), `${logFile()} is missing`).toBe(true);
    if (existsSync(logFile())) {
      const log = readFileSync(logFile(), 'utf8');
      expect(log).toContain(runId);
      expect(log.includes(canary), 'the canary is in the emulator log').toBe(false);
      expect(log.includes(headerCanary), 'the header canary is in the emulator log').toBe(false);
      expect(log.includes(modelCanary), 'the model key canary is in the emulator log').toBe(false);
    }
  });

  it('fails a step whose secret was deleted since the workflow was saved with SECRET_NOT_FOUND, at once and without calling the agent', async () => {
    const client = await engineClient('deleted');
    expect((await putSecret(client, 'short-lived', canaryValue())).response.status).toBe(201);
    const saved = await saveWorkflow(client, [
      { id: 'call', kind: 'http', input: { url: `${testAgent().url}/ok`, bearerToken: { $secret: 'short-lived' } }, retry: { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' } },
    ]);
    expect(saved.response.status, JSON.stringify(saved.error)).toBe(201);
    expect((await deleteSecret(client, 'short-lived')).response.status).toBe(204);

    const { id: runId } = await client.run(saved.data!.id);
    const run = await client.waitFor(runId, ['completed', 'blocked']);
    const step = await client.step(runId, 'call');

    expect(run.status).toBe('blocked');
    expect(step).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'SECRET_NOT_FOUND', retryable: false } });
    expect(step.error?.message).toContain('"short-lived"');
    expect(testAgent().requests.filter((request) => request.idempotencyKey?.startsWith(`${runId}:`))).toEqual([]);
  });
});
