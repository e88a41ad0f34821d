import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import type { LifecycleEvent } from '#shared/domain/events';
import { createDynamoEngineStore } from '#shared/store/engine-store';
import { createEventOutbox } from '#shared/store/event-outbox';
import { keys, listingsIndex } from '#shared/store/keys';
import { listingKeys } from '#shared/store/listings';
import { createRunStore } from '#shared/store/runs';
import { packSteps } from '#shared/store/workflows';
import { createEngineTable, deleteEngineTable } from '#test/helpers/engine-table';
import { stack } from '#test/helpers/stack';
import { describeEngineStoreContract } from '#test/helpers/store-contract';

/**
 * The DynamoDB engine store against the store contract (test/helpers/store-contract.ts), on a
 * throwaway table of the emulator with the stack's key schema and indexes (created here, deleted
 * afterwards; the deployed stack's table is not touched). The in-memory adapter runs the same
 * scenarios in the unit project.
 */
const client = new DynamoDBClient({ endpoint: stack.endpoint, region: stack.region, credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' } });
// As the functions build it (shared/clients/dynamodb.ts).
const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
const tableName = `baton-store-contract-${Date.now()}`;

beforeAll(() => createEngineTable(client, tableName));
afterAll(() => deleteEngineTable(client, tableName));

const runs = createRunStore({ documents, tableName });
// The outbox's marking is real; the bus accepts every event.
const acceptingBus = { send: async (command: { input: { Entries?: unknown[] } }) => ({ Entries: (command.input.Entries ?? []).map(() => ({ EventId: 'accepted' })) }) } as unknown as EventBridgeClient;
const outbox = createEventOutbox({ documents, bus: acceptingBus, tableName, busName: 'contract' });

describeEngineStoreContract('DynamoDB', () => ({
  store: createDynamoEngineStore({ documents, tableName }),
  history: async (runId) => (await runs.listEvents(runId, { order: 'asc', limit: 1000 })).items as unknown as LifecycleEvent[],
  // The index itself, not listInbox (which hides entries whose step moved on): a stale entry must show.
  inbox: async (projectId) =>
    (await listingKeys(documents, tableName, { partition: listingsIndex.inbox(projectId), limit: 1000, isItemKey: () => true })).keys.map((key) => `${key.pk.replace(/^RUN#/, '')}/${key.sk.replace(/^STEP#/, '')}`),
  markPublished: async (events) => void (await outbox.publish(events)),
  saveWorkflow: async (projectId, workflowId, version, steps) => void (await documents.send(new PutCommand({ TableName: tableName, Item: { ...keys.workflowVersion(projectId, workflowId, version), type: 'workflow', stepsGz: packSteps(steps) } }))),
}));
