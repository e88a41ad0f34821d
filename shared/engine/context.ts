import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isPublishedOnBus, type LifecycleEvent } from '#shared/domain/events';
import { newEventId } from '#shared/domain/ids';
import type { ExecutorRegistry } from '#shared/executors/registry';
import type { ArtifactStore } from '#shared/store/artifacts';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import type { CommittedEvent, EventOutbox } from '#shared/store/event-outbox';
import { keys } from '#shared/store/keys';
import type { RunStore } from '#shared/store/runs';
import { createTransaction } from '#shared/store/transaction';
import type { Dispatcher } from './dispatcher';
import type { ProjectSettingsReader } from './project-settings';

/** Everything the engine talks to; handlers pass real clients, tests pass others. */
export interface EngineDeps {
  documents: DynamoDBDocumentClient;
  tableName: string;
  runs: RunStore;
  dispatcher: Dispatcher;
  outbox: EventOutbox;
  artifacts: ArtifactStore;
  executors: ExecutorRegistry;
  /** Project secrets, decrypted for a step at the moment of its call: the step worker only. */
  secrets?: Pick<ProjectSecretStore, 'reveal'>;
  logger: Logger;
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
  now?: () => Date;
  random?: () => number;
}

/**
 * A run's or step's event, keyed into the run's partition; step events go to the bus only when
 * the run was created with its project's `publishStepEvents` on.
 */
export function runEvent(
  run: { id: string; projectId: string; publishStepEvents?: boolean },
  type: string,
  actor: string,
  detail: Record<string, unknown>,
  at: Date,
  stepId?: string,
): CommittedEvent {
  const event: LifecycleEvent = {
    id: newEventId(),
    type,
    projectId: run.projectId,
    runId: run.id,
    ...(stepId ? { stepId } : {}),
    at: at.toISOString(),
    actor,
    detail,
  };
  return { key: keys.runEvent(run.id, event.id), event, publish: isPublishedOnBus(type, run.publishStepEvents) };
}

export const transaction = (deps: EngineDeps) => createTransaction(deps.documents, deps.tableName);
