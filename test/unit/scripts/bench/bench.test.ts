import { describe, expect, it } from 'vitest';
import { emptyUsage, type Usage } from '#shared/clients/usage-meter';
import { minimalHandlerSource, sdkPackagesOf } from '../../../../scripts/lib/bench/cold-start';
import { countRequests, logsRequests, subtractCounts } from '../../../../scripts/lib/bench/emulator-log';
import { callsByService, caseLine, emfCostLine, meterDifferencePercent, usdPerMillionSteps } from '../../../../scripts/lib/bench/report';
import { countOf, emfLineOf, isCatalogueLine, withMetric } from '../../../../scripts/lib/emf-logs';
import { benchSteps, benchWorkflow, meshWidth } from '../../../../scripts/lib/bench/shapes';

const logText = [
  '2026-11-30 10:59:01 DEBUG [ministack] POST / -> service=dynamodb region=us-east-1',
  '2026-11-30 10:59:01 DEBUG [ministack] POST / -> service=dynamodb region=us-east-1',
  '2026-11-30 10:59:01 DEBUG [ministack] POST /000000000000/baton-local-steps -> service=sqs region=us-east-1',
  '2026-11-30 10:59:01 DEBUG [ministack] POST / -> service=events region=us-east-1',
  '2026-11-30 10:59:02 INFO [ministack] Lambda output: service=dynamodb is not a request line',
  '{"level":"INFO","message":"step message processed"}',
  '',
].join('\n');

const usage = (calls: Record<string, number>, more: Partial<Usage> = {}): Usage => ({ ...emptyUsage(), calls, ...more });

describe('bench: the emulator request log', () => {
  it('counts request lines by service, in the meter’s service names, and nothing else', () => {
    expect(countRequests(logText)).toEqual({ DynamoDB: 2, SQS: 1, EventBridge: 1 });
    expect(logsRequests(logText)).toBe(true);
    expect(logsRequests('2026-11-30 10:59:02 INFO [ministack] started\n')).toBe(false);
  });

  it('takes the bench’s own requests out, never below zero', () => {
    expect(subtractCounts({ DynamoDB: 10, SQS: 2 }, { DynamoDB: 4, SQS: 5 })).toEqual({ DynamoDB: 6 });
  });
});

describe('bench: prices and the JSON line', () => {
  it('prices a usage per million steps with its breakdown at list prices', () => {
    // 2 write units and 1 event per step over 10 steps: $1.25 + $1.00 per million steps.
    const cost = usdPerMillionSteps(usage({}, { dynamodb: { readUnits: 0, writeUnits: 20 }, eventsPublished: 10 }), 10);

    expect(cost.breakdown).toEqual({ dynamodbWrites: 1.25, eventBridgeEvents: 1 });
    expect(cost.total).toBe(2.25);
  });

  it('sums calls by service and compares the meter with the emulator in %', () => {
    expect(callsByService(usage({ 'DynamoDB.GetItem': 3, 'DynamoDB.TransactWriteItems': 2, 'SQS.SendMessageBatch': 1 }))).toEqual({ DynamoDB: 5, SQS: 1 });
    // The API's front door is the emulator's alone: left out of the comparison.
    expect(meterDifferencePercent({ DynamoDB: 90 }, { DynamoDB: 100, ApiGateway: 7 })).toBe(-10);
    expect(meterDifferencePercent({ DynamoDB: 1 }, {})).toBeNull();
  });

  it('prints one line per case with per-step figures and the share of the bare pipeline', () => {
    const line = caseLine({
      shape: 'fan',
      size: 100,
      runId: 'run_x',
      status: 'completed',
      steps: 100,
      wallSeconds: 4,
      usage: usage({ 'DynamoDB.TransactWriteItems': 200, 'SQS.SendMessageBatch': 10 }, { dynamodb: { readUnits: 50, writeUnits: 400 }, sqsBillableRequests: 10, lambdaComputeMs: 3_000, lambdaGbSeconds: 3 }),
      emulatorRequests: { DynamoDB: 220, SQS: 10, ApiGateway: 1 },
      pipeline: { messages: 100, seconds: 1 },
    });

    expect(line).toMatchObject({
      case: 'fan-100',
      steps: 100,
      wallSeconds: 4,
      stepsPerSecond: 25,
      callsPerStep: { total: 2.1, DynamoDB: 2, SQS: 0.1 },
      writeUnitsPerStep: 4,
      readUnitsPerStep: 0.5,
      sqsRequestsPerStep: 0.1,
      eventsPerStep: 0,
      usdPerMillionSteps: 2.603,
      usdBreakdownPerMillionSteps: { dynamodbWrites: 2.5, dynamodbReads: 0.062, sqsRequests: 0.04 },
      // 3 GB-s over 100 steps at $0.0000133334: beside the request USD, not in it.
      lambdaCompute: { handlerMsPerStep: 30, gbSecondsPerStep: 0.03, usdPerMillionSteps: 0.4 },
      emulator: { requests: 231, requestsPerStep: { total: 2.31, DynamoDB: 2.2, SQS: 0.1, ApiGateway: 0.01 } },
      meterRequests: 210,
      meterVsEmulatorPercent: -8.7,
      pipeline: { messages: 100, seconds: 1, messagesPerSecond: 100 },
      shareOfPipelinePercent: 25,
    });
    expect(JSON.parse(JSON.stringify(line))).toEqual(line);
  });
});

describe('bench: what Baton\'s metrics cost as log bytes', () => {
  const emf = '{"_aws":{"Timestamp":1764580000000,"CloudWatchMetrics":[{"Namespace":"Baton","Dimensions":[["stage","kind"]],"Metrics":[{"Name":"StepsCompleted","Unit":"Count"}]}]},"stage":"local","kind":"noop","StepsCompleted":7}';

  it('reads an EMF line from a log event and counts the bytes CloudWatch Logs ingests for it (message + 26)', () => {
    const line = emfLineOf('/aws/lambda/Baton-local-Engine-StepWorkerFunction', 1, `${emf}\n`);
    const lines = [line!, emfLineOf('g', 2, emf.replace('"StepsCompleted":7', '"StepsCompleted":[2,3]'))!];

    expect(line).toMatchObject({ raw: emf, ingestedBytes: emf.length + 1 + 26, document: { kind: 'noop', StepsCompleted: 7 } });
    expect(emfLineOf('g', 1, '{"level":"INFO","message":"step message processed"}')).toBeUndefined();
    expect(emfLineOf('g', 1, emf.slice(0, 80))).toBeUndefined();
    expect(withMetric(lines, 'StepsCompleted')).toHaveLength(2);
    expect(withMetric(lines, 'StepsStarted')).toHaveLength(0);
    expect(countOf(lines, 'StepsCompleted')).toBe(12);
    // Baton's catalogue apart from a function's AWS usage metrics (by service).
    expect(isCatalogueLine(line!)).toBe(true);
    expect(isCatalogueLine(emfLineOf('g', 3, emf.replace('StepsCompleted","Unit":"Count"', 'AwsCalls","Unit":"Count"'))!)).toBe(false);
  });

  it('prices the bytes per step at $0.50 per GB ingested, beside the request cost', () => {
    // 20 lines of 250 bytes over 100 steps: 50 bytes a step, 50 MB a million steps, $0.025.
    expect(emfCostLine({ lines: 20, ingestedBytes: 5_000 }, 100)).toEqual({ lines: 20, ingestedBytes: 5_000, linesPerStep: 0.2, bytesPerStep: 50, usdPerMillionSteps: 0.025 });
    expect(emfCostLine({ lines: 0, ingestedBytes: 0 }, 0).usdPerMillionSteps).toBe(0);
  });
});

describe('bench: shapes', () => {
  it('builds a chain, a fan and a diamond mesh of the size asked, every dependency an earlier step', () => {
    for (const shape of ['chain', 'fan', 'diamond-mesh'] as const) {
      const steps = benchSteps(shape, 100);
      const seen = new Set<string>();
      for (const step of steps) {
        for (const parent of step.dependsOn ?? []) expect(seen.has(parent)).toBe(true);
        seen.add(step.id);
      }
      expect(steps).toHaveLength(100);
      expect(steps.every((step) => step.kind === 'noop')).toBe(true);
    }
    expect(benchSteps('chain', 3).map((step) => step.dependsOn)).toEqual([undefined, ['s0000'], ['s0001']]);
    expect(benchSteps('fan', 3).map((step) => step.dependsOn)).toEqual([undefined, ['s0000'], ['s0000']]);
  });

  it('makes a case of llm steps when asked (steps that spend: what a budget costs), noop otherwise', () => {
    const llm = benchWorkflow('fan', 3, 'llm');
    expect(llm.name).toBe('bench-fan-3-llm');
    expect(llm.steps.map((step) => step.kind)).toEqual(['llm', 'llm', 'llm']);
    expect(llm.steps[1]).toMatchObject({ dependsOn: ['s0000'], input: { provider: 'bedrock', maxTokens: 20 } });
    expect(benchWorkflow('fan', 3).steps.every((step) => step.kind === 'noop' && !('input' in step))).toBe(true);
    expect(benchWorkflow('fan', 3).steps.every((step) => !('rate' in step))).toBe(true);
    const rated = benchWorkflow('chain', 3, 'noop', { perSecond: 1000 });
    expect(rated.name).toBe('bench-chain-3-rate-1000');
    expect(rated.steps.map((step) => step.rate)).toEqual(Array.from({ length: 3 }, () => ({ key: 'bench', perSecond: 1000 })));
  });

  it('releases every mesh step past the first row by two parents', () => {
    const steps = benchSteps('diamond-mesh', 100);

    expect(meshWidth(100)).toBe(10);
    expect(steps.filter((step) => !step.dependsOn)).toHaveLength(10);
    expect(steps.slice(10).every((step) => step.dependsOn?.length === 2)).toBe(true);
    expect(steps[19]!.dependsOn).toEqual(['s0009', 's0000']);
  });
});

describe('bench: cold-start twins', () => {
  it('finds the SDK packages a bundle took in, and imports exactly those in the minimal handler', () => {
    const inputs = [
      'node_modules/@aws-sdk/client-dynamodb/dist-cjs/index.js',
      'node_modules/@aws-sdk/lib-dynamodb/dist-cjs/index.js',
      'node_modules/@aws-sdk/client-sqs/dist-cjs/index.js',
      'node_modules/@aws-sdk/core/dist-cjs/index.js',
      'shared/engine/dispatcher.ts',
    ];
    const packages = sdkPackagesOf(inputs);

    expect(packages).toEqual(['@aws-sdk/client-dynamodb', '@aws-sdk/client-sqs', '@aws-sdk/lib-dynamodb']);
    expect(minimalHandlerSource(packages)).toContain("import * as sdk2 from '@aws-sdk/lib-dynamodb';");
  });
});
