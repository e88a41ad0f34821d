/** `npm run deploy`: deploy (or update) the stacks on the running emulator; `--destroy` deletes them. */
import { deploy, teardown } from './lib/deploy';
import { isHealthy, resolveTarget } from './lib/emulator';

const { endpoint } = resolveTarget();
if (!(await isHealthy(endpoint))) {
  console.error(`No emulator answers at ${endpoint}. Start one with: npm start -- --detach`);
  process.exit(1);
}
if (process.argv.includes('--destroy')) {
  await teardown(endpoint);
  console.log('Stacks deleted.');
} else {
  const info = await deploy(endpoint);
  console.log(`Deployed. API: ${info.apiUrl}`);
}
