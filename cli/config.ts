import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors';

/** Where the API is and the token to use: what `baton login` saves. */
export interface Credentials {
  url: string;
  token: string;
}

/** Environment variables the CLI reads; passed in so tests choose them. */
export type Env = Record<string, string | undefined>;

/**
 * The config file in the user's config directory: `$XDG_CONFIG_HOME/baton/config.json`, or
 * `~/.config/baton/config.json` (`%APPDATA%\baton\config.json` on Windows).
 */
export function configPath(env: Env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'baton', 'config.json');
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'baton', 'config.json');
  return join(home, '.config', 'baton', 'config.json');
}

/** A base URL as the CLI keeps it: http(s), no trailing slash. */
export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--url must be an http(s) URL, like https://api.example.com; got ${JSON.stringify(raw)}`, 'usage_error', 'url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url must be http or https; got ${url.protocol}`, 'usage_error', 'url');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

export async function readSavedCredentials(path: string): Promise<Partial<Credentials>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const saved = JSON.parse(text) as Partial<Credentials>;
    return {
      ...(typeof saved.url === 'string' ? { url: saved.url } : {}),
      ...(typeof saved.token === 'string' ? { token: saved.token } : {}),
    };
  } catch {
    throw new CliError(`${path} is not valid JSON: run baton login again, or delete it`);
  }
}

/**
 * Saves the credentials readable by the user alone (file 0600, directory 0700), written whole
 * or not at all (a temporary file renamed over the old one).
 */
export async function saveCredentials(path: string, credentials: Credentials): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ url: credentials.url, token: credentials.token }, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask and ignored for an existing file.
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/** The saved credentials with BATON_URL / BATON_TOKEN taking precedence; an error says what is missing. */
export async function resolveCredentials(env: Env, path: string): Promise<Credentials> {
  const saved = await readSavedCredentials(path);
  const url = env.BATON_URL || saved.url;
  const token = env.BATON_TOKEN || saved.token;
  if (!url || !token) {
    const missing = [!url ? 'API URL' : '', !token ? 'token' : ''].filter(Boolean).join(' and ');
    throw new CliError(`Not logged in (no ${missing}): run \`baton login --url <api url> --token <token>\`, or set BATON_URL and BATON_TOKEN`, 'not_logged_in');
  }
  return { url: normalizeUrl(url), token };
}
