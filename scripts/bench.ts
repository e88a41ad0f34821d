/**
 * `npm run bench`: what a step costs and how fast steps go, on the stack `npm start` deployed
 * (reads .baton/stack.json; deploys nothing of Baton's). Prints one JSON line per case
 * (shape × size of noop steps; with metricsEmf, Baton's metrics as CloudWatch Logs bytes), the bare
 * pipeline's lines, and one cold-start line per function.
 * The emulator's own request count needs it to log at DEBUG (npm start's default):
 *   npm start -- --detach
 *   npm run bench                                   # every case: about 6 minutes
 *   npm run bench -- --shape fan --size 100         # one case
 *   npm run bench -- --size 10,100 --no-pipeline --no-cold-start
 *   npm run bench -- --publish-step-events            # as a project subscribed to step events
 *   npm run bench -- --budgets '{"perRun":{"tokens":100000,"mode":"warn"}}'   # as a project with budgets (settings.budgets)
 *   npm run bench -- --limits '{"maxExecutedSteps":100000}'   # as a project with run limits (settings.limits)
 *   npm run bench -- --concurrency '{"limit":1000}'   # as a project with a capacity limit (settings.concurrency): what a limited step costs
 *   npm run bench -- --rate '{"perSecond":1000}'   # every step under a rate (StepSpec rate, one key): what a rate-limited step costs
 *   npm run bench -- --kind llm --size 100 --shape fan   # llm steps on the emulator's Bedrock (steps that spend: what a budget costs)
 *   npm run bench -- --cold-start-only                # bundle sizes and require times only
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { measureColdStarts } from './lib/bench/cold-start';
import { logOffset, logsRequests, readLogSince } from './lib/bench/emulator-log';
import { deployBarePipeline } from './lib/bench/pipeline';
import { caseLine } from './lib/bench/report';
import { runCase, saveWorkflow, type CaseTarget } from './lib/bench/run-case';
import { benchKinds, benchShapes, benchSizes, benchWorkflow, type BenchKind, type BenchShape } from './lib/bench/shapes';
import { readAdminToken } from './lib/demo';
import { emulatorEnv, logFile } from './lib/emulator';
import { root, statePath } from './lib/paths';
import { readStackInfo } from './lib/stack';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', multiple: true },
    size: { type: 'string', multiple: true },
    'no-pipeline': { type: 'boolean', default: false },
    'no-cold-start': { type: 'boolean', default: false },
    /** Only the cold-start lines: no project, pipeline or case (still reads the deployed functions' environment). */
    'cold-start-only': { type: 'boolean', default: false },
    'poll-ms': { type: 'string', default: '250' },
    /** Runs as a project subscribed to step events (settings.publishStepEvents): what that lever saves. */
    'publish-step-events': { type: 'boolean', default: false },
    /** Runs as a project with these budgets (settings.budgets, JSON): what budgets cost steps that spend nothing. */
    budgets: { type: 'string' },
    /** Runs as a project with these run limits (settings.limits, JSON): what limits cost a step. */
    limits: { type: 'string' },
    /** Runs as a project with this capacity limit (settings.concurrency, JSON): what a limited step costs. */
    concurrency: { type: 'string' },
    /** Every step under this rate (StepSpec `rate`, JSON `{"perSecond":N}`, one key): what a rate-limited step costs. */
    rate: { type: 'string' },
    /** The steps' kind: noop (default), or llm on the emulator's Bedrock. */
    kind: { type: 'string', default: 'noop' },
  },
});

const listOf = (raw: string[] | undefined): string[] | undefined => raw?.flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
const shapes = (listOf(values.shape) ?? [...benchShapes]) as BenchShape[];
const sizes = (listOf(values.size) ?? benchSizes.map(String)).map(Number);
for (const shape of shapes) {
  if (!benchShapes.includes(shape)) {
    console.error(`--shape must be one of ${benchShapes.join(', ')} (got ${shape})`);
    process.exit(2);
  }
}
for (const size of sizes) {
  if (!Number.isInteger(size) || size < 2 || size > 1000) {
    console.error(`--size must be a whole number from 2 to 1000 (got ${size})`);
    process.exit(2);
  }
}

if (!(benchKinds as readonly string[]).includes(values.kind)) {
  console.error(`--kind must be one of ${benchKinds.join(', ')} (got ${values.kind})`);
  process.exit(2);
}
const kind = values.kind as BenchKind;
const rate = values.rate ? (JSON.parse(values.rate) as { perSecond: number }) : undefined;
if (rate && !(typeof rate.perSecond === 'number' && rate.perSecond > 0)) {
  console.error(`--rate must be JSON {"perSecond": N} with N > 0 (got ${values.rate})`);
  process.exit(2);
}

const info = readStackInfo();
Object.assign(process.env, emulatorEnv(info.endpoint));
const note = (line: string) => console.error(line);
const print = (line: unknown) => console.log(JSON.stringify(line));

if (!values['cold-start-only']) await runCases();

/** The pipeline and the cases: everything but the cold starts. */
async function runCases(): Promise<void> {
  // The emulator logs each request it serves only at DEBUG: check before relying on it.
  const logPath = logFile();
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const before = logOffset(logPath);
  await documents.send(new DescribeTableCommand({ TableName: info.tableName }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (!logsRequests(readLogSince(logPath, before))) {
    note(`bench: ${logPath} has no request lines: start the emulator with npm start (it logs at DEBUG unless BATON_EMULATOR_LOG_LEVEL says otherwise; npm stop first if npm test started it). Emulator counts will read 0.`);
  }

  const project = await (async () => {
    const response = await fetch(`${info.apiUrl}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await readAdminToken(info)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-${new Date().toISOString()}` }),
    });
    const body = (await response.json()) as { id: string; adminToken: { token: string } };
    if (response.status !== 201) throw new Error(`creating the bench project: ${response.status} ${JSON.stringify(body)}`);
    return body;
  })();
  const target: CaseTarget = { info, projectId: project.id, token: project.adminToken.token, documents, logPath, pollMs: Number(values['poll-ms']), logs: new CloudWatchLogsClient({}) };
  const settings = { ...(values['publish-step-events'] ? { publishStepEvents: true } : {}), ...(values.budgets ? { budgets: JSON.parse(values.budgets) as unknown } : {}), ...(values.limits ? { limits: JSON.parse(values.limits) as unknown } : {}), ...(values.concurrency ? { concurrency: JSON.parse(values.concurrency) as unknown } : {}) };
  if (Object.keys(settings).length) {
    const response = await fetch(`${info.apiUrl}/v1/projects/${project.id}/settings`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(settings),
    });
    if (!response.ok) throw new Error(`setting ${Object.keys(settings).join(', ')}: ${response.status} ${await response.text()}`);
  }

  // The bare pipeline first, with as many messages as each size has steps (warmed up once).
  const pipelineBySize = new Map<number, { messages: number; seconds: number }>();
  if (!values['no-pipeline']) {
    note('bench: deploying the bare pipeline (SQS → Lambda, batch size 10 → conditional PutItem) …');
    const pipeline = await deployBarePipeline({ root, log: note });
    try {
      await pipeline.measure(10);
      for (const size of [...new Set(sizes)].sort((a, b) => a - b)) {
        const measured = await pipeline.measure(size);
        pipelineBySize.set(size, measured);
        print({ kind: 'pipeline', messages: size, seconds: Math.round(measured.seconds * 100) / 100, messagesPerSecond: Math.round((size / measured.seconds) * 10) / 10 });
      }
    } finally {
      await pipeline.remove();
    }
  }

  // A first small run warms the worker up, so the first case does not pay its cold start.
  note('bench: warming up …');
  await runCase(target, 'fan', 10, await saveWorkflow(target, benchWorkflow('fan', 10, kind, rate)));

  const began = Date.now();
  for (const shape of shapes) {
    for (const size of sizes) {
      note(`bench: ${shape}-${size} …`);
      const workflowId = await saveWorkflow(target, benchWorkflow(shape, size, kind, rate));
      const measured = await runCase(target, shape, size, workflowId);
      print(caseLine({ ...measured, pipeline: pipelineBySize.get(size) }));
    }
  }
  note(`bench: cases took ${Math.round((Date.now() - began) / 1000)} s`);
}

if (!values['no-cold-start']) {
  note('bench: cold starts (esbuild bundles as CDK makes them; require timed in fresh processes) …');
  // What the functions read at cold start: every deployed Baton function's environment.
  const { Functions = [] } = await new LambdaClient({}).send(new ListFunctionsCommand({}));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...emulatorEnv(info.endpoint) };
  for (const fn of Functions.filter((candidate) => candidate.FunctionName?.startsWith('Baton-'))) Object.assign(env, fn.Environment?.Variables ?? {});
  delete env.NODE_OPTIONS;
  for (const line of await measureColdStarts({ root, workDir: join(statePath('bench'), 'bundles'), env })) print(line);
}
