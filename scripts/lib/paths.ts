import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/** Local state: emulator log and pid, stack outputs, the demo project. Git-ignored. */
export const stateDir = join(root, '.baton');
export const venvDir = join(root, '.venv');

export const statePath = (name: string): string => {
  mkdirSync(stateDir, { recursive: true });
  return join(stateDir, name);
};
