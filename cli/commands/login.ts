import { unwrap, type WhoAmI } from '#sdk';
import type { Command } from 'commander';
import { normalizeUrl, readSavedCredentials, saveCredentials } from '../config';
import { exitCodes, UsageError } from '../errors';
import { readText } from '../files';
import type { Act } from '../program';

/** `login` (check the token, then save it) and `whoami`. */
export function registerLogin(program: Command, act: Act): void {
  program
    .command('login')
    .description('check a token against the API and save both for later commands')
    .option('--url <url>', 'the API base URL (npm start prints it; default: BATON_URL)')
    .option('--token <token>', 'a project token, btn_… ("-" reads it from standard input; default: BATON_TOKEN)')
    .addHelpText('after', '\nSaved to $XDG_CONFIG_HOME/baton/config.json (or ~/.config/baton/config.json), readable by you only (0600).')
    .action(
      act(async (session, options: { url?: string; token?: string }) => {
        const { env, stdin } = session.deps;
        const rawUrl = options.url ?? env.BATON_URL;
        let token = options.token ?? env.BATON_TOKEN;
        if (!rawUrl) throw new UsageError('login needs --url <api url> (npm start prints it)', 'url');
        if (token === '-') token = (await readText('-', '--token', stdin)).trim();
        if (!token) throw new UsageError('login needs --token <token>', 'token');
        const url = normalizeUrl(rawUrl);
        // Saved only once the API has accepted the token: a typo fails here, not three commands later.
        const whoami = await unwrap(session.clientFor({ url, token }).GET('/v1/whoami'));
        await saveCredentials(session.configPath, { url, token });
        session.output.result({ url, configPath: session.configPath, whoami }, [`Logged in to ${url} ${describeWho(whoami)}.`, `Saved to ${session.configPath}`]);
        return exitCodes.ok;
      }),
    );

  program
    .command('whoami')
    .description('who the current token is: its project and role')
    .action(
      act(async (session) => {
        const client = await session.client();
        const whoami = await unwrap(client.GET('/v1/whoami'));
        const saved = await readSavedCredentials(session.configPath);
        const { env } = session.deps;
        const url = normalizeUrl((env.BATON_URL || saved.url)!);
        const source = env.BATON_TOKEN ? 'BATON_TOKEN' : session.configPath;
        session.output.result({ url, tokenFrom: source, whoami }, [`${url}: ${describeWho(whoami)} (token from ${source})`]);
        return exitCodes.ok;
      }),
    );
}

const describeWho = (whoami: WhoAmI) =>
  whoami.kind === 'project' ? `as ${article(whoami.role)} ${whoami.role} of project ${whoami.projectId}` : 'with the installation admin token (it only creates projects)';

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');
