import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { aws } from './aws';
import { stack } from './stack';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the deployed HTTP API through API Gateway on the emulator. */
export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  { token, body, headers = {} }: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

let adminToken: string | undefined;

/** The installation admin token the stack generated in Secrets Manager. */
export async function installationToken(): Promise<string> {
  if (!adminToken) {
    const { SecretString } = await aws.secrets.send(new GetSecretValueCommand({ SecretId: stack.adminTokenSecret }));
    if (!SecretString) throw new Error('installation token secret is empty');
    adminToken = SecretString;
  }
  return adminToken;
}

export interface CreatedProject {
  id: string;
  name: string;
  adminToken: { id: string; role: string; token: string };
}

export async function createProject(name = 'e2e'): Promise<CreatedProject> {
  const response = await api<CreatedProject>('POST', '/v1/projects', { token: await installationToken(), body: { name } });
  if (response.status !== 201) throw new Error(`create project: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}
