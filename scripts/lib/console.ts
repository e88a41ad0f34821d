import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { consoleConfigFile, consoleDist, type ConsoleRuntimeConfig } from '../../infra/console-bundle';
import { emulatorEnv } from './emulator';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));

/**
 * Publishes the built console and its config.json to the console bucket on the emulator: what
 * ConsolePublication (CDK BucketDeployment) does on AWS, whose custom resource cannot run there
 * (infra/emulator-gaps.ts, localConsoleUrl). Same files, same headers.
 */
export async function publishConsole(endpoint: string, bucket: string, config: ConsoleRuntimeConfig): Promise<void> {
  const env = emulatorEnv(endpoint);
  const s3 = new S3Client({
    endpoint,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  const put = (key: string, body: Buffer | string, contentType: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, CacheControl: 'no-cache' }));
  const files = filesUnder(consoleDist);
  if (!files.some((file) => file.endsWith(`${sep}index.html`))) throw new Error(`${consoleDist} has no index.html: the console build failed`);
  // Assets first, the entry point and its configuration last: a reader never gets an index.html
  // that names files not uploaded yet.
  const ordered = [...files.filter((file) => !file.endsWith('index.html')), ...files.filter((file) => file.endsWith('index.html'))];
  for (const file of ordered) {
    await put(relative(consoleDist, file).split(sep).join('/'), readFileSync(file), contentTypes[extname(file)] ?? 'application/octet-stream');
  }
  await put(consoleConfigFile, JSON.stringify(config), contentTypes['.json']!);
}
