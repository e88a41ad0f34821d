import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the console's sources are and where its production build goes (git-ignored). */
export const consoleRoot = fileURLToPath(new URL('../console', import.meta.url));
export const consoleDist = join(consoleRoot, 'dist');
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * Builds the console (Vite) into `outDir`. Synchronous so CDK's local asset bundling can call it;
 * the deploy script uses the same function before it uploads the bundle to the emulator.
 */
export function buildConsole(outDir: string = consoleDist): void {
  execFileSync(process.execPath, [join(repositoryRoot, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(consoleRoot, 'vite.config.ts'), '--outDir', outDir, '--emptyOutDir'], {
    cwd: repositoryRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** The file the console reads at start-up to find its API; written next to the bundle at deploy. */
export const consoleConfigFile = 'config.json';
export interface ConsoleRuntimeConfig {
  apiUrl: string;
  stage: string;
}
