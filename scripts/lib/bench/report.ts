import type { Usage } from '#shared/clients/usage-meter';
import { estimateComputeUsd, estimateCostUsd, type Prices, defaultPrices } from '#shared/domain/cost';
import { totalOf } from './emulator-log';

/** What one case measured; `pipeline` is the bare pipeline run with as many messages. */
export interface CaseMeasurement {
  shape: string;
  size: number;
  runId: string;
  status: string;
  /** Steps that ran (attempt > 0). */
  steps: number;
  wallSeconds: number;
  /** The run's usage as Baton's meter reported it (GET /v1/runs/{id}). */
  usage: Usage;
  /** Requests by service the emulator logged for the run, the bench's own requests taken out. */
  emulatorRequests: Record<string, number>;
  pipeline?: PipelineMeasurement;
  /** Baton's metrics the functions printed for the run (EMF lines in their CloudWatch Logs, the sweeper's left out). */
  emf?: EmfMeasurement;
}

export interface EmfSize {
  lines: number;
  /** What CloudWatch Logs ingests for them: each line's bytes plus 26 bytes of event metadata. */
  ingestedBytes: number;
}

export interface EmfMeasurement {
  /** The StepsCompleted the lines add up to: the run's steps when every line was read. */
  stepsCompleted: number;
  /** Baton's metrics (shared/domain/metrics.ts: steps, runs, API). */
  catalogue: EmfSize;
  /** The functions' AWS usage metrics (AwsCalls, DynamoDBWriteUnits, … by service; "Usage and cost"). */
  usage: EmfSize;
}

export interface PipelineMeasurement {
  messages: number;
  seconds: number;
}

/** Services the emulator counts that Baton's meter does not claim to (the API's front door). */
const unmeteredServices = new Set(['ApiGateway']);

const round = (value: number, digits = 2): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

const perStep = (value: number, steps: number, digits = 2): number => round(steps ? value / steps : 0, digits);

/** Calls by service (`DynamoDB.PutItem` → `DynamoDB`), from the meter's `Service.Operation` keys. */
export function callsByService(usage: Usage): Record<string, number> {
  const byService: Record<string, number> = {};
  for (const [key, count] of Object.entries(usage.calls)) {
    const [service = key] = key.split('.', 1);
    byService[service] = (byService[service] ?? 0) + count;
  }
  return byService;
}

/** USD per million steps, in total and by line item, at list prices. */
export function usdPerMillionSteps(usage: Usage, steps: number, prices: Prices = defaultPrices): { total: number; breakdown: Record<string, number> } {
  const { totalUsd, breakdown } = estimateCostUsd(usage, prices);
  const scale = steps ? 1_000_000 / steps : 0;
  return {
    total: round(totalUsd * scale, 3),
    breakdown: Object.fromEntries(Object.entries(breakdown).filter(([, usd]) => usd > 0).map(([item, usd]) => [item, round(usd * scale, 3)])),
  };
}

/** (meter - emulator) / emulator in %, over the services both count; negative: the meter undercounts. */
export function meterDifferencePercent(meterByService: Record<string, number>, emulatorByService: Record<string, number>): number | null {
  const meter = totalOf(Object.fromEntries(Object.entries(meterByService).filter(([service]) => !unmeteredServices.has(service))));
  const emulator = totalOf(Object.fromEntries(Object.entries(emulatorByService).filter(([service]) => !unmeteredServices.has(service))));
  return emulator ? round(((meter - emulator) / emulator) * 100, 1) : null;
}

const perStepOf = (counts: Record<string, number>, steps: number): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([service, count]) => [service, perStep(count, steps)]));

/** Baton's Lambda compute of a case: handler ms and GB-seconds per step, USD per million steps at the arm64 price. */
export function lambdaComputeLine(usage: Usage, steps: number, prices: Prices = defaultPrices) {
  const compute = estimateComputeUsd(usage, prices);
  return {
    handlerMsPerStep: perStep(compute.handlerMs, steps),
    gbSecondsPerStep: perStep(compute.gbSeconds, steps, 6),
    usdPerMillionSteps: round(steps ? (compute.usd * 1_000_000) / steps : 0, 3),
  };
}

/** GB as CloudWatch Logs bills ingestion (10^9 bytes: the higher of the two readings of a GB). */
const bytesPerGb = 1e9;

/** Baton's metrics of a case as log bytes: EMF lines and bytes per step, USD per million steps at the Logs ingestion price. */
export function emfCostLine({ lines, ingestedBytes }: EmfSize, steps: number, prices: Prices = defaultPrices) {
  return {
    lines,
    ingestedBytes,
    linesPerStep: perStep(lines, steps, 3),
    bytesPerStep: perStep(ingestedBytes, steps, 1),
    usdPerMillionSteps: round(steps ? ((ingestedBytes / steps) * 1_000_000 * prices.cloudWatchLogsIngestedGb) / bytesPerGb : 0, 4),
  };
}

/** The JSON line printed for one case. */
export function caseLine(measurement: CaseMeasurement, prices: Prices = defaultPrices) {
  const { shape, size, steps, usage, wallSeconds, emulatorRequests, pipeline } = measurement;
  const meterByService = callsByService(usage);
  const cost = usdPerMillionSteps(usage, steps, prices);
  const stepsPerSecond = round(wallSeconds > 0 ? steps / wallSeconds : 0, 1);
  const pipelinePerSecond = pipeline && pipeline.seconds > 0 ? round(pipeline.messages / pipeline.seconds, 1) : undefined;
  return {
    case: `${shape}-${size}`,
    shape,
    size,
    runId: measurement.runId,
    status: measurement.status,
    steps,
    wallSeconds: round(wallSeconds),
    stepsPerSecond,
    callsPerStep: { total: perStep(totalOf(meterByService), steps), ...perStepOf(meterByService, steps) },
    writeUnitsPerStep: perStep(usage.dynamodb.writeUnits, steps),
    readUnitsPerStep: perStep(usage.dynamodb.readUnits, steps),
    sqsRequestsPerStep: perStep(usage.sqsBillableRequests, steps),
    eventsPerStep: perStep(usage.eventsPublished, steps),
    usdPerMillionSteps: cost.total,
    usdBreakdownPerMillionSteps: cost.breakdown,
    // Baton's own Lambda compute (handler time × memory), beside the request cost, not in it.
    lambdaCompute: lambdaComputeLine(usage, steps, prices),
    // Baton's metrics (EMF log lines) at the Logs ingestion price, beside the request cost, not in it.
    ...(measurement.emf
      ? { metricsEmf: { stepsCompleted: measurement.emf.stepsCompleted, catalogue: emfCostLine(measurement.emf.catalogue, steps, prices), usage: emfCostLine(measurement.emf.usage, steps, prices) } }
      : {}),
    emulator: {
      requests: totalOf(emulatorRequests),
      requestsPerStep: { total: perStep(totalOf(emulatorRequests), steps), ...perStepOf(emulatorRequests, steps) },
    },
    meterRequests: totalOf(meterByService),
    meterVsEmulatorPercent: meterDifferencePercent(meterByService, emulatorRequests),
    ...(pipeline && pipelinePerSecond !== undefined
      ? {
          pipeline: { messages: pipeline.messages, seconds: round(pipeline.seconds), messagesPerSecond: pipelinePerSecond },
          shareOfPipelinePercent: pipelinePerSecond ? round((stepsPerSecond / pipelinePerSecond) * 100, 1) : null,
        }
      : {}),
  };
}

export type CaseLine = ReturnType<typeof caseLine>;
