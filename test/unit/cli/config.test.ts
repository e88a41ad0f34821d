import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, normalizeUrl, resolveCredentials, saveCredentials } from '#cli/config';
import { CliError } from '#cli/errors';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'baton-cli-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('where the login is kept', () => {
  it('is under XDG_CONFIG_HOME when set, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf' }, 'linux', '/home/ann')).toBe('/x/conf/baton/config.json');
    expect(configPath({}, 'linux', '/home/ann')).toBe('/home/ann/.config/baton/config.json');
    expect(configPath({}, 'darwin', '/Users/ann')).toBe('/Users/ann/.config/baton/config.json');
  });

  it('is readable by the user alone, even when the file existed with a wider mode', async () => {
    const path = join(dir, 'nested', 'baton', 'config.json');
    await saveCredentials(path, { url: 'https://api.example.com', token: 'btn_one' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested', 'baton'))).mode & 0o777).toBe(0o700);

    await writeFile(path, '{}', { mode: 0o644 });
    await saveCredentials(path, { url: 'https://api.example.com', token: 'btn_two' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ url: 'https://api.example.com', token: 'btn_two' });
  });
});

describe('which credentials a command uses', () => {
  it('takes BATON_URL and BATON_TOKEN over the saved login', async () => {
    const path = join(dir, 'config.json');
    await saveCredentials(path, { url: 'https://saved.example.com', token: 'btn_saved' });

    await expect(resolveCredentials({}, path)).resolves.toEqual({ url: 'https://saved.example.com', token: 'btn_saved' });
    await expect(resolveCredentials({ BATON_TOKEN: 'btn_env' }, path)).resolves.toEqual({ url: 'https://saved.example.com', token: 'btn_env' });
    await expect(resolveCredentials({ BATON_URL: 'http://127.0.0.1:4566/_aws/execute-api/abc/', BATON_TOKEN: 'btn_env' }, path)).resolves.toEqual({
      url: 'http://127.0.0.1:4566/_aws/execute-api/abc',
      token: 'btn_env',
    });
  });

  it('says how to log in when there is nothing to use', async () => {
    const missing = resolveCredentials({}, join(dir, 'absent.json'));
    await expect(missing).rejects.toBeInstanceOf(CliError);
    await expect(missing).rejects.toThrow(/Not logged in \(no API URL and token\).*baton login --url/);
  });

  it('refuses a saved file that is not JSON, naming it', async () => {
    const path = join(dir, 'config.json');
    await writeFile(path, 'url=x');
    await expect(resolveCredentials({}, path)).rejects.toThrow(`${path} is not valid JSON`);
  });
});

describe('normalizeUrl', () => {
  it('keeps the path and drops trailing slashes', () => {
    expect(normalizeUrl('https://api.example.com/')).toBe('https://api.example.com');
    expect(normalizeUrl('http://127.0.0.1:4566/_aws/execute-api/ba7017a1//')).toBe('http://127.0.0.1:4566/_aws/execute-api/ba7017a1');
  });

  it('refuses what is not an http(s) URL, naming --url', () => {
    expect(() => normalizeUrl('api.example.com')).toThrow(/--url must be an http\(s\) URL/);
    expect(() => normalizeUrl('ftp://api.example.com')).toThrow(/--url must be http or https/);
  });
});
