/**
 * `npm run fuzz`: schemathesis against the deployed API for longer than `npm test` does
 * (BATON_FUZZ_EXAMPLES per operation and phase, default 300). Needs `npm start` first (or an
 * emulator named by AWS_ENDPOINT_URL with the stack deployed). A fresh seed each run unless
 * BATON_FUZZ_SEED names one (to replay a failure). Prints the cases per operation.
 */
import { fuzzSeed, runSchemathesis } from './lib/schemathesis';
import { readStackInfo } from './lib/stack';

const maxExamples = Number(process.env.BATON_FUZZ_EXAMPLES ?? 300);
const result = await runSchemathesis(readStackInfo(), { maxExamples, seed: fuzzSeed(process.env, undefined) });
console.log('\nCases per operation:');
for (const [operation, cases] of Object.entries(result.casesPerOperation).sort()) console.log(`  ${String(cases).padStart(6)}  ${operation}`);
process.exit(result.ok ? 0 : 1);
