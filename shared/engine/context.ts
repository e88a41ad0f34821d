import type { Logger } from '@aws-lambda-powertools/logger';
import type { Usage } from '#shared/clients/usage-meter';
import type { MetricsRecorder } from '#shared/domain/metrics';
import { isInProjectFeed, isPublishedOnBus } from '#shared/domain/events';
import { newEventId } from '#shared/domain/ids';
import type { ExecutorRegistry, StepKindRegistry } from '#shared/executors/registry';
import type { StepMessage } from '#shared/schemas/messages';
import type { ArtifactStore } from '#shared/store/artifacts';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import type { EventOutbox } from '#shared/store/event-outbox';
import type { Dispatcher } from './dispatch';
import type { MapObjects } from './map-store';
import type { FeedbackStore } from './feedback';
import type { ProjectSettingsReader } from './project-settings';
import type { EngineStore, EventToWrite } from './store';

/** What the engine spent on AWS since the previous record point of the current scope (shared/clients/usage-meter.ts). */
export interface UsageRecorder {
  sinceCheckpoint(): Usage | undefined;
}

/**
 * Everything the engine talks to, through ports: handlers pass real adapters
 * (shared/clients/create-engine.ts), unit tests in-memory ones. No AWS client in sight.
 */
export interface EngineDeps {
  store: EngineStore;
  dispatcher: Dispatcher;
  outbox: Pick<EventOutbox, 'publish'>;
  artifacts: Pick<ArtifactStore, 'storeOutput' | 'storeArtifacts' | 'loadOutput' | 'storeDeliveryPayload'>;
  /** Map steps' S3 objects (items and results by chunk): the functions that finish steps. */
  mapObjects?: MapObjects;
  /** The kinds' input schemas and checks, where a person's retry may bring new inputs (the API). */
  stepKinds?: StepKindRegistry;
  /** The kinds that run, with their clients: the step worker only (no other function bundles them). */
  executors?: ExecutorRegistry;
  /** Where reviewers' scores are recorded (quality gates: the step worker; the API has its own). */
  feedback?: FeedbackStore;
  /** Project secrets, decrypted for a step at the moment of its call: the step worker only. */
  secrets?: Pick<ProjectSecretStore, 'reveal'>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Baton's metrics (shared/domain/metrics.ts): recorded where the engine decides, written once per invocation. */
  metrics: MetricsRecorder;
  clock: () => Date;
  usage: UsageRecorder;
  random?: () => number;
  /** Waits in the worker until the clock reads `time` (epoch ms: a rate's start a fraction of a second away); tests pass one that moves their clock. */
  sleepUntil?: (time: number) => Promise<void>;
  /** Loopback and private targets allowed (local stage only). */
  allowPrivateTargets: boolean;
  /** A project's settings for the executors (cached briefly per worker instance). */
  projectSettings: ProjectSettingsReader;
  /** Step timeout when the step gives none, in seconds. */
  defaultStepTimeoutSeconds: number;
  /** The longest timeoutSeconds a running kind may have on this stage (one worker invocation's worth). */
  maxStepTimeoutSeconds: number;
  /** Added to the step timeout to get its lease; must keep the lease below the queue's visibility timeout. */
  leaseMarginSeconds: number;
  /**
   * The API's base URL, for the callback URLs of http and lambda steps (the step worker only;
   * without it an agent's "pending" answer fails the step with CALLBACK_UNSUPPORTED).
   */
  callbackBaseUrl?: () => Promise<string>;
  /**
   * The step worker's: a step it releases needs no dispatch marker, because its own message stays
   * unacknowledged until the release is sent and its redelivery re-releases (rerelease). Every
   * other function marks what it queues (see dispatch-markers.ts).
   */
  releasesRecoveredByRedelivery?: boolean;
  /**
   * Annotates the current trace with the step being worked on (its project is known once its run
   * is read) and answers the trace's id, recorded on the step's events; none: no trace.
   */
  traceStep?: (step: { projectId: string; runId: string; stepId: string }) => string | undefined;
  /**
   * Runs the work on a step the worker runs inline (a released dependent, no message of its own)
   * in that step's scope: its run, step and attempt on the lines logged meanwhile, its own trace
   * subsegment (the step worker's; shared/middleware/correlation.ts). None: the work as is.
   */
  stepScope?: <T>(message: StepMessage, work: () => Promise<T>) => Promise<T>;
}

/**
 * A run's or step's lifecycle event; step events go to the bus only when the run was created
 * with its project's `publishStepEvents` on, and into the project feed only then or when a
 * person acts on them (isInProjectFeed). Every event is kept in the run's history.
 */
export function runEvent(run: { id: string; projectId: string; publishStepEvents?: boolean }, type: string, actor: string, detail: Record<string, unknown>, at: Date, stepId?: string): EventToWrite {
  return {
    event: { id: newEventId(), type, projectId: run.projectId, runId: run.id, ...(stepId ? { stepId } : {}), at: at.toISOString(), actor, detail },
    publish: isPublishedOnBus(type, run.publishStepEvents),
    inFeed: isInProjectFeed(type, run.publishStepEvents),
  };
}

/** `{ traceId }` of the trace the step's work runs in (EngineDeps.traceStep), for its events; empty without one. */
export const stepTrace = (deps: Pick<EngineDeps, 'traceStep'>, run: { id: string; projectId: string }, stepId: string): { traceId?: string } => {
  const traceId = deps.traceStep?.({ projectId: run.projectId, runId: run.id, stepId });
  return traceId ? { traceId } : {};
};

/** The work on `message` in its step's scope (EngineDeps.stepScope), or as is. */
export const inStepScope = <T>(deps: Pick<EngineDeps, 'stepScope'>, message: StepMessage, work: () => Promise<T>): Promise<T> =>
  deps.stepScope ? deps.stepScope(message, work) : work();
