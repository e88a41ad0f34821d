import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createClient, unwrap, type BatonClient, type components } from '#sdk';
import { aws } from './aws';
import { stack } from './stack';

export type CreatedProject = components['schemas']['CreatedProject'];

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

/** The SDK's client for the deployed API, with `token` (none: an anonymous caller). */
export const batonClient = (token?: string): BatonClient => createClient({ baseUrl: stack.apiUrl, ...(token ? { token } : {}) });

/** The SDK's client with the installation admin token. */
export const installationClient = async (): Promise<BatonClient> => batonClient(await installationToken());

/** A new project through the API, with its first admin token. */
export async function createProject(name = 'e2e'): Promise<CreatedProject> {
  return unwrap((await installationClient()).POST('/v1/projects', { body: { name } }));
}
