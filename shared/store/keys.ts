/**
 * The single-table layout (docs/ARCHITECTURE.md, "Data model"). Every key is built here so the
 * shapes stay in one place.
 */
export const keys = {
  project: (projectId: string) => ({ pk: `PROJECT#${projectId}`, sk: 'META' }),
  projectToken: (projectId: string, tokenId: string) => ({ pk: `PROJECT#${projectId}`, sk: `TOKEN#${tokenId}` }),
  projectEvent: (projectId: string, eventId: string) => ({ pk: `PROJECT#${projectId}`, sk: `EVENT#${eventId}` }),
  token: (tokenHash: string) => ({ pk: `TOKEN#${tokenHash}`, sk: 'META' }),
};

/** Sparse GSI holding events not yet published to the bus; the sweeper republishes from it. */
export const outboxIndex = { name: 'outbox', partitionKey: 'outboxPk', sortKey: 'eventId', pending: 'PENDING' } as const;

/** Every GSI of the table; infra grants access to exactly these. */
export const tableIndexNames = ['gsi1', outboxIndex.name, 'timers'] as const;
