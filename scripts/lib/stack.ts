import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { statePath } from './paths';

/** What tools and tests need to reach a deployed stack; written by deploy, read by everyone else. */
export interface StackInfo {
  stage: string;
  endpoint: string;
  region: string;
  apiId: string;
  /** Base URL of the HTTP API, no trailing slash (path form on an emulator). */
  apiUrl: string;
  /** The web console (served from the console bucket; see infra/emulator-gaps.ts). */
  consoleUrl: string;
  consoleBucket: string;
  tableName: string;
  artifactsBucket: string;
  stepQueueUrl: string;
  stepDlqUrl: string;
  /** steps-parked: dead letters the DLQ handler recorded, kept for operators. */
  stepParkedQueueUrl: string;
  busName: string;
  adminTokenSecret: string;
  sweeperFunction: string;
  /** The bus `eventbridge` triggers listen on (the stage's triggerBus). */
  triggerBus: string;
  /** The function trigger rules invoke (tests invoke it directly to redeliver an event). */
  triggerStartFunction: string;
}

export const stackInfoPath = (): string => statePath('stack.json');

export function readStackInfo(): StackInfo {
  const path = stackInfoPath();
  if (!existsSync(path)) throw new Error(`${path} is missing: deploy first (npm start, or npm run deploy).`);
  return JSON.parse(readFileSync(path, 'utf8')) as StackInfo;
}

export function writeStackInfo(info: StackInfo): void {
  writeFileSync(stackInfoPath(), `${JSON.stringify(info, null, 2)}\n`);
}
