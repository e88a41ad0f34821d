/**
 * `npm run fault-scenario`: the agent fault scenario of issue 9 against the deployed local stack
 * (needs `npm start` first, or an emulator named by AWS_ENDPOINT_URL with the stack deployed).
 * Runs of `http` steps call a local agent that deduplicates by X-Idempotency-Key and at random
 * answers 503 after doing the work, 429 with Retry-After, or hangs past the step's timeout; the
 * script prints what happened and fails unless every run completed and every step's effect was
 * applied exactly once.
 *
 *   npm run fault-scenario -- --runs 5 --steps 40 --seed 1 --timeout 2
 *   (or BATON_FAULT_RUNS, BATON_FAULT_STEPS, BATON_FAULT_SEED, BATON_FAULT_TIMEOUT)
 */
import { parseArgs } from 'node:util';
import { readAdminToken } from './lib/demo';
import { faultScenarioHeld, formatFaultScenario, runFaultScenario } from './lib/fault-scenario';
import { readStackInfo } from './lib/stack';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.BATON_FAULT_RUNS ?? '5' },
    steps: { type: 'string', default: process.env.BATON_FAULT_STEPS ?? '40' },
    seed: { type: 'string', default: process.env.BATON_FAULT_SEED ?? '1' },
    timeout: { type: 'string', default: process.env.BATON_FAULT_TIMEOUT ?? '2' },
  },
});

const positive = (name: string, value: string): number => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    console.error(`--${name} must be a whole number from 1 (got ${value})`);
    process.exit(2);
  }
  return number;
};

const info = readStackInfo();
const result = await runFaultScenario({
  apiUrl: info.apiUrl,
  installationToken: await readAdminToken(info),
  runs: positive('runs', values.runs),
  stepsPerRun: positive('steps', values.steps),
  seed: positive('seed', values.seed),
  stepTimeoutSeconds: positive('timeout', values.timeout),
  log: (line) => console.log(line),
});
console.log('\nFault scenario:');
for (const line of formatFaultScenario(result)) console.log(line);
const held = faultScenarioHeld(result);
console.log(held ? '\nEvery run completed; every effect was applied exactly once.' : '\nFAILED: a run did not complete or an effect was not applied exactly once.');
process.exit(held ? 0 : 1);
