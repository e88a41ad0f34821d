import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './errors';

/** Reads a file named on the command line (`-` is standard input); the error names the option. */
export async function readText(path: string, option: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UsageError(`Cannot read ${option} ${path}: ${reason}`, option);
  }
}

export type DocumentFormat = 'json' | 'yaml';

/** JSON by a `.json` name, YAML by `.yaml`/`.yml`; otherwise by the first character. */
export function formatOf(path: string, text: string): DocumentFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') return 'json';
  if (extension === '.yaml' || extension === '.yml') return 'yaml';
  return /^\s*[[{]/.test(text) ? 'json' : 'yaml';
}

/** A JSON or YAML value from a file (`--input`): the error says which file and where. */
export async function readValue(path: string, option: string, stdin: NodeJS.ReadableStream): Promise<unknown> {
  const text = await readText(path, option, stdin);
  try {
    return formatOf(path, text) === 'json' ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (error) {
    throw new UsageError(`${option} ${path} is not valid ${formatOf(path, text).toUpperCase()}: ${(error as Error).message.split('\n')[0]}`, option);
  }
}
