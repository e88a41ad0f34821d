/**
 * The write budget of one noop step, write by write (docs/ARCHITECTURE.md, "Write budget per
 * step"). Runs the engine with the real DynamoDB adapter (shared/store/engine-store.ts) against a
 * throwaway table in the emulator, with the table's real key schema and indexes, an in-memory
 * queue and a recording bus; every write asks for `ReturnConsumedCapacity: INDEXES` and is
 * labelled with the store operation that made it. MiniStack bills writes as DynamoDB does (item
 * size per started KB, transactions twice, one write per index entry put, deleted or rewritten,
 * two when its key moves), so the table is the budget at list prices.
 *
 *   BATON_EMULATOR_PORT=4718 npx tsx scripts/write-budget.ts [--size 100] [--shape chain,fan]
 *
 * Needs only the emulator (no deployed stack); creates and deletes its own table.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emptyUsage, type Usage } from '#shared/clients/usage-meter';
import { noMetrics } from '#shared/domain/metrics';
import type { EngineDeps } from '#shared/engine/context';
import { createRun } from '#shared/engine/create-run';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import type { EngineStore } from '#shared/engine/store';
import { noopExecutor } from '#shared/executors/noop';
import { createExecutorRegistry } from '#shared/executors/executor-registry';
import type { StepMessage } from '#shared/schemas/messages';
import { defaultProjectSettings } from '#shared/schemas/projects';
import { createDynamoEngineStore } from '#shared/store/engine-store';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { createWorkflowStore } from '#shared/store/workflows';
import { createRunStore } from '#shared/store/runs';
import { createEngineTable, deleteEngineTable } from '../test/helpers/engine-table';
import { resolveTarget } from './lib/emulator';
import { benchSteps, type BenchShape } from './lib/bench/shapes';

const { values } = parseArgs({ options: { size: { type: 'string', default: '100' }, shape: { type: 'string', default: 'chain,fan' }, batch: { type: 'string', default: '10' } } });
const size = Number(values.size);
const batchSize = Number(values.batch);

const endpoint = resolveTarget().endpoint;
const base = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const tableName = `baton-write-budget-${Date.now()}`;

/** One write as DynamoDB billed it: the store operation that made it, the call, table and index units. */
interface WriteRecord {
  operation: string;
  call: string;
  table: number;
  indexes: Record<string, number>;
}
const records: WriteRecord[] = [];
/** The store operation a write belongs to (records of a batch run in parallel, so it follows the async context). */
const labels = new AsyncLocalStorage<string>();
let operation = 'other';

const writeCalls = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'TransactWriteCommand', 'BatchWriteCommand']);
const raw = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
// Every write asks for its capacity by index, and is recorded under the current operation.
const documents = new Proxy(raw, {
  get(target, property, receiver) {
    if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
    return async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const call = command.constructor.name;
      if (!writeCalls.has(call)) return target.send(command as never);
      const label = labels.getStore() ?? operation;
      command.input.ReturnConsumedCapacity = 'INDEXES';
      const output = (await target.send(command as never)) as { ConsumedCapacity?: unknown };
      const consumed = ([] as Record<string, unknown>[]).concat((output.ConsumedCapacity as Record<string, unknown>) ?? []);
      for (const entry of consumed) {
        const indexes = Object.fromEntries(Object.entries((entry.GlobalSecondaryIndexes as Record<string, { CapacityUnits: number }>) ?? {}).map(([name, units]) => [name, units.CapacityUnits]));
        const indexTotal = Object.values(indexes).reduce((sum, units) => sum + units, 0);
        const table = (entry.Table as { CapacityUnits?: number })?.CapacityUnits ?? (entry.WriteCapacityUnits as number) ?? (entry.CapacityUnits as number) - indexTotal;
        records.push({ operation: label, call: call.replace('Command', ''), table, indexes });
      }
      return output;
    };
  },
});

/** The store, each operation labelling the writes it makes. */
const labelled = (store: EngineStore): EngineStore =>
  new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => labels.run(String(property), () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });

// What a step's metering scope holds by its completion (the step item keeps it): five calls, their units.
const representativeUsage: Usage = { ...emptyUsage(), calls: { 'DynamoDB.BatchGetItem': 2, 'DynamoDB.TransactWriteItems': 2, 'DynamoDB.GetItem': 1 }, dynamodb: { readUnits: 3, writeUnits: 13 } };

async function runCase(shape: BenchShape) {
  records.length = 0;
  const store = labelled(createDynamoEngineStore({ documents, tableName }));
  const recordUsage = createRunUsageRecorder({ documents, tableName });
  const queue: StepMessage[] = [];
  let now = Date.parse('2026-11-30T12:00:00.000Z');
  const deps: EngineDeps = {
    store,
    dispatcher: { send: async (dispatches) => void queue.push(...dispatches.map((dispatch) => dispatch.message)) },
    // Step events stay off the bus (the default); run-level events are published and marked by the real outbox: counted apart below.
    outbox: { publish: async (committed) => committed.filter((event) => event.publish !== false) },
    artifacts: { storeOutput: async (_address, output) => ({ output: output ?? null }), storeArtifacts: async () => [], loadOutput: async () => null, storeDeliveryPayload: async () => '' },
    executors: createExecutorRegistry({ executors: [noopExecutor] }),
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    metrics: noMetrics,
    clock: () => new Date((now += 1)),
    usage: { sinceCheckpoint: () => representativeUsage },
    random: () => 0.5,
    allowPrivateTargets: true,
    projectSettings: async () => defaultProjectSettings,
    defaultStepTimeoutSeconds: 30,
    maxStepTimeoutSeconds: 60,
    leaseMarginSeconds: 5,
    releasesRecoveredByRedelivery: true,
  };
  const steps = benchSteps(shape, size).map((step) => ({ ...step, dependsOn: step.dependsOn ?? [] }));
  // Saved as the API saves it: steps with no item yet are read from this version.
  const { workflow } = await createWorkflowStore({ documents: raw, tableName }).save({ projectId: 'prj_budget', body: { name: `budget-${shape}`, steps }, actor: 'budget', now: new Date(now) });
  operation = 'createRun (api)';
  const { run } = await createRun({ ...deps, releasesRecoveredByRedelivery: false }, { projectId: 'prj_budget', workflow: workflow, actor: 'budget', start: true });
  // The worker: batches of `batchSize` records, one usage write per run per invocation (createMetering).
  while (queue.length > 0) {
    const batch = queue.splice(0, batchSize);
    // In parallel, as the worker runs a batch's records (their sink counts share a bucket's write).
    operation = 'other';
    await Promise.all(batch.map((message) => processStepMessage(deps, message, Date.now() + 600_000)));
    operation = 'run usage (per invocation)';
    await recordUsage(run.id, representativeUsage);
  }
  return { run, steps: steps.length };
}

const round = (value: number) => Math.round(value * 1000) / 1000;

/** The run's history as the API reads it: every step queued, started and completed once, and paging by cursor gives the same list. */
async function checkHistory(runId: string, steps: number) {
  const runs = createRunStore({ documents: raw, tableName });
  const all = (await runs.listEvents(runId, { order: 'asc', limit: 100_000 })).items;
  const paged: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  do {
    const page = await runs.listEvents(runId, { order: 'desc', limit: 97, ...(cursor ? { cursor } : {}) });
    paged.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  const count = (type: string) => all.filter((event) => event.type === type).length;
  const complete = ['step.queued', 'step.started', 'step.completed'].every((type) => count(type) === steps);
  const samePages = JSON.stringify(paged.map((event) => event.id).reverse()) === JSON.stringify(all.map((event) => event.id));
  console.log(`  history: ${all.length} events (${['step.queued', 'step.started', 'step.completed', 'run.completed'].map((type) => `${type} ${count(type)}`).join(', ')}): ${complete && samePages ? 'every step recorded, pages agree' : 'MISMATCH'}`);
}

async function main() {
  await createEngineTable(base, tableName);
  try {
    for (const shape of values.shape.split(',') as BenchShape[]) {
      const { run, steps } = await runCase(shape);
      const byOperation = new Map<string, { calls: number; table: number; indexes: Record<string, number> }>();
      for (const record of records) {
        const key = `${record.operation} · ${record.call}`;
        const entry = byOperation.get(key) ?? { calls: 0, table: 0, indexes: {} };
        entry.calls += 1;
        entry.table += record.table;
        for (const [name, units] of Object.entries(record.indexes)) entry.indexes[name] = (entry.indexes[name] ?? 0) + units;
        byOperation.set(key, entry);
      }
      let total = 0;
      console.log(`\n${shape}-${steps}: write units per step by store operation (table + indexes)`);
      for (const [key, entry] of [...byOperation].sort((a, b) => b[1].table - a[1].table)) {
        const indexUnits = Object.values(entry.indexes).reduce((sum, units) => sum + units, 0);
        total += entry.table + indexUnits;
        const indexes = Object.entries(entry.indexes).map(([name, units]) => `${name} ${round(units / steps)}`).join(', ');
        console.log(`  ${key.padEnd(48)} calls ${round(entry.calls / steps).toString().padEnd(6)} table ${round(entry.table / steps).toString().padEnd(6)} indexes ${round(indexUnits / steps)}${indexes ? ` (${indexes})` : ''}`);
      }
      console.log(`  total ${round(total / steps)} WU per step = $${round((total / steps) * 0.625)} per million steps at $0.625 per million write units`);
      await checkHistory(run.id, steps);
    }
  } finally {
    await deleteEngineTable(base, tableName);
  }
}

await main();
