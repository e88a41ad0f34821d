import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';

/**
 * The function's X-Ray tracer (Powertools), one per cold start: the middy stacks open the handler's
 * subsegment, the SDK client factories capture every AWS call under it. Powertools switches it off
 * outside Lambda (unit tests, scripts, the emulator, which sets no AWS_EXECUTION_ENV) and where
 * POWERTOOLS_TRACE_ENABLED is `false`; on AWS the functions' tracing is Active (BatonFunction).
 */
export const tracer = new Tracer();

/** The handler's subsegment. Never its response as metadata: API answers can hold a token's value once. */
export const traceHandler = (): MiddlewareObj => captureLambdaHandler(tracer, { captureResponse: false });

/** An SDK v3 client whose calls become subsegments of the current trace (unchanged when tracing is off). */
export const traced = <Client>(client: Client): Client => tracer.captureAWSv3Client(client);

/** X-Ray annotations (indexed, searchable): only these keys, so a trace is found by its run, step or project. */
export type TraceAnnotations = Partial<Record<'runId' | 'stepId' | 'projectId' | 'attempt' | 'requestId', string | number>>;

/**
 * Runs one record's work (a step message) in a subsegment of its own annotated with `annotations`,
 * so the records of a batch processed in parallel each have their searchable trace part and
 * their AWS calls nest under it. Without tracing, just runs the work.
 */
export const traceRecord = <T>(name: string, annotations: TraceAnnotations, work: () => Promise<T>): Promise<T> => {
  if (!tracer.isTracingEnabled()) return work();
  return tracer.provider.captureAsyncFunc(`### ${name}`, async (subsegment) => {
    for (const [key, value] of Object.entries(annotations)) if (value !== undefined) subsegment?.addAnnotation(key, value);
    try {
      return await work();
    } catch (error) {
      subsegment?.addError(error as Error);
      throw error;
    } finally {
      subsegment?.close();
    }
  }) as Promise<T>;
};

/** Adds annotations to the current (sub)segment: the record's, inside traceRecord. */
export const annotateTrace = (annotations: TraceAnnotations): void => {
  for (const [key, value] of Object.entries(annotations)) if (value !== undefined) tracer.putAnnotation(key, value);
};

/**
 * The X-Ray trace id of this invocation (`1-5759e988-bd862e3fe1be46a994272793`), recorded on step
 * events so a step links to its trace; undefined where Lambda gives none (tracing not Active).
 */
export const currentTraceId = (): string | undefined => tracer.getRootXrayTraceId();
