/**
 * The single-table layout (docs/ARCHITECTURE.md, "Data model"). Every key is built here so the
 * shapes stay in one place.
 */
export const keys = {
  project: (projectId: string) => ({ pk: `PROJECT#${projectId}`, sk: 'META' }),
  projectToken: (projectId: string, tokenId: string) => ({ pk: `PROJECT#${projectId}`, sk: `TOKEN#${tokenId}` }),
  projectEvent: (projectId: string, eventId: string) => ({ pk: `PROJECT#${projectId}`, sk: `EVENT#${eventId}` }),
  /** An http step's cached agent reply: per project and SHA-256 of URL and body. */
  httpCache: (projectId: string, hash: string) => ({ pk: `PROJECT#${projectId}`, sk: `HTTPCACHE#${hash}` }),
  token: (tokenHash: string) => ({ pk: `TOKEN#${tokenHash}`, sk: 'META' }),
  workflowName: (projectId: string, name: string) => ({ pk: `PROJECT#${projectId}`, sk: `WFNAME#${name}` }),
  workflowVersion: (projectId: string, workflowId: string, version: number) => ({
    pk: `PROJECT#${projectId}`,
    sk: `${workflowVersionPrefix(workflowId)}${String(version).padStart(6, '0')}`,
  }),
  /** A part of a large version's gzipped steps beyond the first (shared/store/workflow-parts.ts); `n` from 1. */
  workflowVersionPart: (projectId: string, workflowId: string, version: number, n: number) => ({
    pk: `PROJECT#${projectId}`,
    sk: `WFPART#${workflowId}#V#${String(version).padStart(6, '0')}#${String(n).padStart(2, '0')}`,
  }),
  idempotency: (projectId: string, key: string) => ({ pk: `PROJECT#${projectId}`, sk: `IDEMPOTENCY#${key}` }),
  run: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'META' }),
  step: (runId: string, stepId: string) => ({ pk: `RUN#${runId}`, sk: `STEP#${stepId}` }),
  runEvent: (runId: string, eventId: string) => ({ pk: `RUN#${runId}`, sk: `EVENT#${eventId}` }),
  /** Budget ledgers (counters of spent and reserved): a run's, and a project's per calendar month (YYYY-MM). */
  runBudget: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'BUDGET' }),
  projectBudget: (projectId: string, month: string) => ({ pk: `PROJECT#${projectId}`, sk: `BUDGET#${month}` }),
  /** A run's execution counter (`executed`), while `limits.maxExecutedSteps` is in force (shared/engine/limits.ts). */
  runLimits: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'LIMITS' }),
  /** A capacity scope's slot item (holders and their lease ends) and its waiting list (`WAIT#<priority>#<arrival>#<run>#<step>`). */
  capacitySlots: (projectId: string, scopeId: string) => ({ pk: capacityPartition(projectId, scopeId), sk: 'SLOTS' }),
  capacityWait: (projectId: string, scopeId: string, entry: string) => ({ pk: capacityPartition(projectId, scopeId), sk: entry }),
  /** A rate key's turns and starts (shared/engine/rate.ts): `reservedUntil`, `nextStart`. */
  rate: (projectId: string, key: string) => ({ pk: capacityPartition(projectId, `rate#${key}`), sk: 'RATE' }),
  /** One of a run's sink buckets: the ids of its unfinished sinks in `pending` (shared/domain/sink-buckets.ts). */
  sinkBucket: (runId: string, bucket: number) => ({ pk: `RUN#${runId}`, sk: `SINKS#${bucket}` }),
  /** What the run cost Baton beyond its steps' own usage (the meter's per-invocation remainders): off the run item, no index. */
  runUsage: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'USAGE' }),
  /** A project's operating counters (runs and steps by status entered, usage totals): added to once per invocation, read by the Prometheus endpoint. */
  projectCounters: (projectId: string) => ({ pk: `PROJECT#${projectId}`, sk: 'COUNTERS' }),
  webhookSecret: (projectId: string, provider: string) => ({ pk: `PROJECT#${projectId}`, sk: `WEBHOOKSECRET#${provider}` }),
  /** A project secret: its KMS ciphertext and timestamps (never the value). */
  projectSecret: (projectId: string, name: string) => ({ pk: `PROJECT#${projectId}`, sk: `${projectSecretPrefix}${name}` }),
  delivery: (projectId: string, provider: string, deliveryId: string) => ({ pk: `PROJECT#${projectId}`, sk: `DELIVERY#${provider}#${deliveryId}` }),
  /** A webhook step waiting for a delivery, filed under its correlation key. */
  webhookWait: (projectId: string, correlationKey: string, runId: string, stepId: string) => ({
    pk: `PROJECT#${projectId}`,
    sk: `${webhookWaitPrefix(correlationKey)}${runId}#${stepId}`,
  }),
  /** A callback token (by its SHA-256 only) and the step execution it is bound to. */
  callback: (tokenHash: string) => ({ pk: `CALLBACK#${tokenHash}`, sk: 'META' }),
  /** A run mapped to a branch, for the CI reactions (see branchRunsPrefix). */
  branchRun: (projectId: string, repository: string, branch: string, runId: string) => ({
    pk: `PROJECT#${projectId}`,
    sk: `${branchRunsPrefix(repository, branch)}${runId}`,
  }),
};

/** Repository names compare case-insensitively (as GitHub and GitLab do); branches exactly. */
export const branchRunsPrefix = (repository: string, branch: string) =>
  `BRANCH#${encodeURIComponent(repository.toLowerCase())}#${encodeURIComponent(branch)}#`;

export const projectSecretPrefix = 'SECRET#';

/** A capacity scope's partition: `project`, or `key#<resolved key>` (shared/domain/capacity.ts). */
export const capacityPartition = (projectId: string, scopeId: string) => `CAPACITY#${projectId}#${scopeId}`;
export const capacityWaitPrefix = 'WAIT#';

export const webhookWaitPrefix = (correlationKey: string) => `WAIT#${correlationKey}#`;

export const workflowVersionPrefix = (workflowId: string) => `WORKFLOW#${workflowId}#V#`;

/** gsi1: a project's runs, newest first by run id (a ULID). */
export const projectRunsIndex = { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', value: (projectId: string) => `PROJECT#${projectId}#RUNS` } as const;

/** Sparse GSI holding events not yet published to the bus; the sweeper republishes from it. */
export const outboxIndex = { name: 'outbox', partitionKey: 'outboxPk', sortKey: 'eventId', pending: 'PENDING' } as const;

/**
 * Sparse GSI of due times the sweeper acts on. A claimed step carries its lease expiry here
 * (set in the claim's own write, removed by the write that records its outcome), so a step
 * whose worker vanished is found without scanning. A step waiting in needs_qa with a
 * `timeoutSeconds` carries its deadline the same way; a queued step gated far ahead, its time; a
 * running step waiting for an agent's callback, when its next heartbeat (or its deadline) is due;
 * a queued step whose message may have been lost, when that message was due.
 */
export const timersIndex = {
  name: 'timers',
  partitionKey: 'timerPk',
  sortKey: 'dueAt',
  lease: 'LEASE',
  notBefore: 'NOT_BEFORE',
  deadline: 'DEADLINE',
  /** A pending step waiting for its callback: due when its heartbeat or deadline passes. */
  callback: 'CALLBACK',
  /**
   * A step committed as queued by a function whose message has no redelivery to fall back on
   * (actions, reactions, callbacks, the sweeper; any retry): due when its message should be
   * visible, taken off by the claim. The sweeper re-sends what is left past a grace.
   */
  dispatch: 'DISPATCH',
  /** A running run with `limits.maxDurationSeconds` (its META item): due at its deadline, when the sweeper blocks it (MAX_DURATION). */
  runDeadline: 'RUN_DEADLINE',
  /** A throttled step: due when the first holder's lease of its scope ends (a dead holder's slot is then taken back). */
  throttled: 'THROTTLED',
} as const;

/**
 * gsi2: sparse, keys only, overloaded with one partition per listing that has no home in the
 * table's own keys. Keys only, because every entry is a write: a listing reads the keys here
 * and then the items themselves (one BatchGetItem per page), which keeps each entry under 1 KB
 * whatever the item holds. CloudFormation adds one GSI per update: a new listing gets a new
 * partition value here, not a new index.
 * - `PROJECTS`: every project's META item, by project id (creation time).
 * - `PROJECT#p#INBOX`: the project's steps waiting in needs_qa, by `<since>#<run>#<step>`
 *   (set by the write that parks the step, removed by every write that moves it on).
 * - `PROJECT#p#EVENTS`: every event item of the project (its own, its runs', and step events
 *   published on the bus; a step event kept in its step's `history` has no entry), by event id.
 */
export const listingsIndex = {
  name: 'gsi2',
  partitionKey: 'gsi2pk',
  sortKey: 'gsi2sk',
  projects: 'PROJECTS',
  inbox: (projectId: string) => `PROJECT#${projectId}#INBOX`,
  feed: (projectId: string) => `PROJECT#${projectId}#EVENTS`,
} as const;

/** The attributes a step leaves the inbox (and the timers index) by: removed by every write that moves it out of needs_qa. */
export const waitingStepIndexAttributes = ['leaseUntil', timersIndex.partitionKey, timersIndex.sortKey, listingsIndex.partitionKey, listingsIndex.sortKey] as const;

/** Every GSI of the table; infra grants access to exactly these. */
export const tableIndexNames = ['gsi1', outboxIndex.name, timersIndex.name, listingsIndex.name] as const;

/**
 * Feedback (issue 12 §3): each record under its run, sorted by step then time, so a run's and a
 * step's listings are both one prefix query; a workflow version's count and sum under its project.
 */
export const feedbackKeys = {
  record: (runId: string, stepId: string, feedbackId: string) => ({ pk: `RUN#${runId}`, sk: `${feedbackPrefix(stepId)}${feedbackId}` }),
  versionTotals: (projectId: string, workflowId: string, version: number) => ({ pk: `PROJECT#${projectId}`, sk: `${feedbackTotalsPrefix(workflowId)}${String(version).padStart(6, '0')}` }),
};
/** Step ids never hold `#`: `FEEDBACK#a#` cannot match step `a.b`'s records. */
export const feedbackPrefix = (stepId?: string) => (stepId ? `FEEDBACK#${stepId}#` : 'FEEDBACK#');
export const feedbackTotalsPrefix = (workflowId: string) => `FEEDBACKAVG#${workflowId}#V#`;
