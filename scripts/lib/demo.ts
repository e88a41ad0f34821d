import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { emulatorEnv } from './emulator';
import { statePath } from './paths';
import type { StackInfo } from './stack';

export interface Demo {
  projectId: string;
  token: string;
  workflowId?: string;
}

/** A small diamond to try: outline → (research, examples) → draft. */
const demoWorkflow = {
  name: 'demo-diamond',
  description: 'Created by npm start: a four-step diamond of noop steps',
  steps: [
    { id: 'outline', kind: 'noop', input: { topic: 'Baton' } },
    { id: 'research', kind: 'noop', dependsOn: ['outline'] },
    { id: 'examples', kind: 'noop', dependsOn: ['outline'] },
    { id: 'draft', kind: 'noop', dependsOn: ['research', 'examples'] },
  ],
};

/** Reads the installation admin token that the stack generated in Secrets Manager. */
export async function readAdminToken(info: StackInfo): Promise<string> {
  const env = emulatorEnv(info.endpoint);
  const client = new SecretsManagerClient({
    endpoint: info.endpoint,
    region: info.region,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: info.adminTokenSecret }));
  if (!SecretString) throw new Error(`Secret ${info.adminTokenSecret} has no value`);
  return SecretString;
}

/**
 * The demo project and its admin token: reused when the saved token still works (a warm start),
 * created through the API with the installation token otherwise.
 */
export async function ensureDemo(info: StackInfo): Promise<Demo> {
  const path = statePath('demo.json');
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Demo;
    const check = await fetch(`${info.apiUrl}/v1/whoami`, { headers: { authorization: `Bearer ${saved.token}` } });
    if (check.ok) return saved.workflowId ? saved : withWorkflow(info, saved, path);
  }
  const response = await fetch(`${info.apiUrl}/v1/projects`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await readAdminToken(info)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'demo' }),
  });
  const body = (await response.json()) as { id?: string; adminToken?: { token?: string } };
  if (response.status !== 201 || !body.id || !body.adminToken?.token) {
    throw new Error(`Creating the demo project failed: ${response.status} ${JSON.stringify(body)}`);
  }
  return withWorkflow(info, { projectId: body.id, token: body.adminToken.token }, path);
}

/** Saves the demo workflow into the demo project (a new version each time it is saved). */
async function withWorkflow(info: StackInfo, demo: Demo, path: string): Promise<Demo> {
  const response = await fetch(`${info.apiUrl}/v1/projects/${demo.projectId}/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demo.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(demoWorkflow),
  });
  const body = (await response.json()) as { id?: string };
  if (response.status !== 201 || !body.id) throw new Error(`Creating the demo workflow failed: ${response.status} ${JSON.stringify(body)}`);
  const ready = { ...demo, workflowId: body.id };
  writeFileSync(path, `${JSON.stringify(ready, null, 2)}\n`, { mode: 0o600 });
  return ready;
}
