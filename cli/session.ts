import { createClient, unwrap, type BatonClient } from '#sdk';
import { configPath, resolveCredentials, type Credentials, type Env } from './config';
import { CliError, TransportError } from './errors';
import type { Output, Terminal } from './output';

/** What the CLI needs from the world, passed in so tests can give their own. */
export interface CliDeps {
  env: Env;
  terminal: Terminal;
  stdin: NodeJS.ReadableStream;
  fetch: (request: Request) => Promise<Response>;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  now: () => number;
  /** Aborted on Ctrl-C: long commands (watch, follow) stop cleanly. */
  signal?: AbortSignal;
  /** How often `run watch` and `--follow` poll (BATON_POLL_MS overrides; default 1 s). */
  pollIntervalMs?: number;
}

export const cliVersion = '0.1.0';

/** One invocation: its output mode and, once a command asks, the API client from the saved login. */
export class Session {
  private connection: Promise<{ client: BatonClient; credentials: Credentials }> | undefined;
  private project: Promise<string> | undefined;

  constructor(
    readonly deps: CliDeps,
    readonly output: Output,
  ) {}

  get configPath(): string {
    return configPath(this.deps.env);
  }

  get pollIntervalMs(): number {
    const fromEnv = Number(this.deps.env.BATON_POLL_MS);
    return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : (this.deps.pollIntervalMs ?? 1000);
  }

  /** A client for the given credentials (login checks them before saving). */
  clientFor(credentials: Credentials): BatonClient {
    const { fetch } = this.deps;
    return createClient({
      baseUrl: credentials.url,
      token: credentials.token,
      headers: { 'user-agent': `baton-cli/${cliVersion}` },
      // The SDK lets fetch's own errors through: say which URL could not be reached, and why.
      fetch: async (request) => {
        try {
          return await fetch(request);
        } catch (error) {
          if (request.signal.aborted) throw error;
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          throw new TransportError(`Cannot reach the Baton API at ${credentials.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
        }
      },
    });
  }

  /** The client of the saved login (BATON_URL / BATON_TOKEN override it). */
  async client(): Promise<BatonClient> {
    this.connection ??= resolveCredentials(this.deps.env, this.configPath).then((credentials) => ({ client: this.clientFor(credentials), credentials }));
    return (await this.connection).client;
  }

  /** The token's project (`GET /v1/whoami`): every project route needs it. */
  async projectId(): Promise<string> {
    this.project ??= (async () => {
      const whoami = await unwrap((await this.client()).GET('/v1/whoami'));
      if (whoami.kind !== 'project') throw new CliError('This is the installation admin token: it only creates projects. Log in with a project token (btn_…).', 'not_a_project_token');
      return whoami.projectId;
    })();
    return this.project;
  }
}
