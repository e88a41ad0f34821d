import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * Local state: emulator log and pid, stack outputs, the demo project. Git-ignored. BATON_STATE_DIR
 * moves it (`npm test` gives each e2e shard, with its own emulator and stack, a folder of its own).
 */
export const stateDir = process.env.BATON_STATE_DIR ? resolve(root, process.env.BATON_STATE_DIR) : join(root, '.baton');
export const venvDir = join(root, '.venv');

export const statePath = (name: string): string => {
  mkdirSync(stateDir, { recursive: true });
  return join(stateDir, name);
};
