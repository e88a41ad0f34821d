import {
  BatchWriteCommand,
  GetCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Budget, Estimate } from '#shared/domain/budgets';
import type { Progress, RunLimits } from '#shared/domain/limits';
import type { Concurrency, Priority, Rate } from '#shared/domain/capacity';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import type { LoopSpec } from '#shared/domain/loops';
import type { GateState, QaPolicy } from '#shared/domain/quality-gates';
import { finalRunStatuses, type RunStatus, type StepStatus } from '#shared/domain/states';
import type { RetryPolicy } from '#shared/domain/workflow';
import type { StepError } from '#shared/domain/step-errors';
import { idRange } from '#shared/domain/ids';
import { eventStorageAttributes } from './event-outbox';
import { createDefinitionCache } from './definition-cache';
import { createGatheredReads } from './gathered-reads';
import { jsonAttribute } from './json-attribute';
import { keys, listingsIndex, projectRunsIndex } from './keys';
import { decodeCursor, encodeCursor, type Page } from './cursor';
import { listingKeys } from './listings';
import { getInOrder, queryAll, queryPrefix } from './query';
import { historyEvents } from './step-history';
import { isWholeItem, stepRecordsOf, withDefinition } from './step-definitions';
import { mergedPage } from './step-pages';
import { stepsOfVersion } from './workflow-parts';

export interface StepErrorRecord {
  message: string;
  retryable: boolean;
  code?: string;
  status?: number;
  url?: string;
  attempt: number;
  at: string;
}

/** What a step keeps of an error (its message, whether retryable, its attempt, and the fields worth showing). */
export const stepErrorRecord = (error: StepError, attempt: number, at: Date): StepErrorRecord => ({
  message: error.message,
  retryable: error.retryable,
  attempt,
  at: at.toISOString(),
  ...(error.details.code ? { code: error.details.code } : {}),
  ...(error.details.status ? { status: error.details.status } : {}),
  ...(error.details.url ? { url: error.details.url } : {}),
});

/** What a throttled step waits for: a slot (shared/engine/capacity.ts) or its turn under a rate (shared/engine/rate.ts). */
export type StepThrottle = SlotThrottle | RateThrottle;

/** Its turn under a `rate` key: it starts at `until` (or just after, when the previous start came late). */
export interface RateThrottle {
  kind: 'rate';
  key: string;
  perSecond: number;
  since: string;
  until: string;
}

/** A slot of a project or concurrency limit. */
export interface SlotThrottle {
  kind: 'project' | 'concurrency';
  key: string;
  limit: number;
  since: string;
  /** Its entry in the scope's waiting list (the sort key), so a cancel takes it out. */
  waitEntry: string;
  /** The scope it waits in (its slot item's partition). */
  scope: string;
}

export interface ArtifactRecord {
  name: string;
  key: string;
  contentType: string;
  size: number;
}

export interface RunRecord {
  id: string;
  projectId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  status: RunStatus;
  input?: unknown;
  /** The branch the run works on (CI deliveries for it reach the run). */
  git?: { repository: string; branch: string };
  /** Labels given at creation, to find the run by. */
  tags?: Record<string, string>;
  totalSteps: number;
  /**
   * Sinks (steps nothing depends on) not yet completed, counted on the run item: runs created
   * before sink buckets only (0 for newer runs, whose sinks are in `openSinkBuckets`).
   */
  remainingSinks: number;
  /** How many sink buckets the run's unfinished sinks were put in at creation (shared/domain/sink-buckets.ts); absent on runs from before them. */
  sinkBuckets?: number;
  /** The buckets still holding an unfinished sink: the run completes when none is left. */
  openSinkBuckets?: string[];
  /** Its roots, when at most maxRootsOnRun (step-definitions.ts); absent on larger runs: EngineStore.definedRoots. */
  roots?: string[];
  heldSteps?: string[];
  failedSteps?: string[];
  /** Steps with `onFailure: "continue"` that failed for good: their dependents ran anyway. */
  failedOptionalSteps?: string[];
  /** Completed although some optional steps failed (listed in failedOptionalSteps). */
  degraded?: boolean;
  reason?: string;
  idempotencyKey?: string;
  /** A fork: the run it was forked from and the step it was forked at (issue 12 §4). */
  forkedFrom?: { runId: string; stepId: string };
  /** A sub-workflow's run: the run and `workflow` step that started it (shared/engine/sub-workflows.ts). */
  parent?: { runId: string; stepId: string };
  /** A fork's steps written completed at creation with the outputs of the run it comes from (their definitions read as done). */
  reusedSteps?: string[];
  /** The project's `settings.publishStepEvents` when the run was created: its step events go to the bus too. */
  publishStepEvents?: boolean;
  /** Its budget (given at creation, else the project's `budgets.perRun`; an editor may change it). Counters: the run's budget ledger item. */
  budget?: Budget;
  /** Its limits (the project's `settings.limits` overridden by its own at creation; an editor may change them): shared/engine/limits.ts. */
  limits?: RunLimits;
  /** Which of its steps get a freed slot first (README "Fair capacity"; absent: normal). */
  priority?: Priority;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  usage?: unknown;
}

export interface StepRecord {
  runId: string;
  projectId: string;
  stepId: string;
  kind: string;
  input?: unknown;
  dependsOn: string[];
  dependents: string[];
  retry: RetryPolicy;
  timeoutSeconds?: number;
  /** `continue`: a failure for good does not block the run (absent: `fail`). */
  onFailure?: 'continue';
  callbackTimeoutSeconds?: number;
  heartbeatSeconds?: number;
  /** When a pending step's wait ends for good (heartbeats cannot extend it past this). */
  callbackDeadline?: string;
  notBefore?: string;
  labels?: Record<string, string>;
  /** The step's own budget and declared worst case (StepSpec). */
  budget?: Budget;
  estimate?: Estimate;
  /** Its key's limit and its own priority (StepSpec; README "Fair capacity"). */
  concurrency?: Concurrency;
  rate?: Rate;
  priority?: Priority;
  /** While throttled: the limit it waits for (`key`: `project` or the resolved key) and since when. */
  throttle?: StepThrottle;
  status: StepStatus;
  /** Attempts started so far (0 before the first). */
  attempt: number;
  /**
   * Executions of the step (1 at run creation; items written before it existed read as 1). Only
   * a person's retry with a new input raises it; the idempotency key agents see is built from it.
   */
  generation?: number;
  /** The attempt number after which no retry is made (raised by the run's `retry` action). */
  allowedAttempts: number;
  /** Dependencies not yet completed. */
  remaining: number;
  /** A sink's bucket (shared/domain/sink-buckets.ts): it leaves that bucket's pending sinks when it finishes. */
  sinkBucket?: number;
  releasedBy?: string[];
  leaseUntil?: string;
  /**
   * What a step in needs_qa waits for, and since when; `callback` while a pending agent's step
   * waits (still `running`, no Lambda held).
   */
  waitingFor?: string;
  waitingSince?: string;
  output?: unknown;
  outputRef?: string;
  artifacts?: ArtifactRecord[];
  error?: StepErrorRecord;
  /** The comment a person approved or rejected the step with. */
  comment?: string;
  usage?: unknown;
  /** What the agent reported with its completion (tokens, USD, calls). */
  agentUsage?: { tokens?: { input?: number; output?: number }; costUsd?: number; cache?: { hits: number; misses: number } };
  /** Every model call of every attempt, failed attempts included (they were paid for). */
  llmUsage?: LlmUsageRecord[];
  queuedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  /** A fork's step written completed with the output of the run it was forked from: it never ran here. */
  reusedFrom?: { runId: string; generation: number };
  /** Its loop (StepSpec `loop`, from its definition) and which iteration it is in (absent: the first). */
  loop?: LoopSpec;
  iteration?: number;
  /** Its input given by the fork that created its run (`stepInputs`), not its definition's: written whole at creation. */
  inputGiven?: boolean;
  /** Added to the run by this planner step's plan (shared/engine/planner.ts): a whole item, not in the workflow version. */
  plannedBy?: string;
  /** A person's guidance for a re-run (issue 12 §4), already applied to the input; kept to show. */
  guidance?: string;
  /** Marked done in an imported plan: completed at creation, never run. */
  doneAtImport?: boolean;
  /** Its latest output's hash and how often in a row it came out so: set when it runs again (NO_PROGRESS, shared/engine/limits.ts). */
  progress?: Progress;
  /** Its own quality gate (StepSpec `qa`). */
  qa?: QaPolicy;
  /** Where its quality gate is (shared/engine/quality-gates.ts): from its review until it completes, fails or runs afresh. */
  gate?: GateState;
  /** A map's child (shared/engine/map-step.ts): its map's step id and its item's index. */
  mapItem?: { mapId: string; index: number };
  /** A map child requeued by a retry of the failed items: the round that requeued it (absent: it is in round 1). */
  mapRound?: number;
}

/** What a fork's reused step takes from the run it was forked from. */
export type ReusedStep = Pick<StepRecord, 'output' | 'outputRef' | 'artifacts' | 'reusedFrom'>;

const stripKeys = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, type: _type, gsi1pk: _g1, gsi1sk: _g2, gsi2pk: _l1, gsi2sk: _l2, timerPk: _t1, dueAt: _t2, history: _history, inputJson, outputJson, gatePolicyJson, qaJson, ...rest } = item;
  return {
    ...rest,
    // A gate's policy is kept as JSON beside it (its reviewer's input is free-form).
    ...(rest.gate && gatePolicyJson !== undefined ? { gate: { ...(rest.gate), policy: jsonAttribute.decode(gatePolicyJson) } } : {}),
    ...(inputJson !== undefined ? { input: jsonAttribute.decode(inputJson) } : {}),
    ...(qaJson !== undefined ? { qa: jsonAttribute.decode(qaJson) } : {}),
    ...(outputJson !== undefined ? { output: jsonAttribute.decode(outputJson) } : {}),
    ...(rest.releasedBy instanceof Set ? { releasedBy: [...(rest.releasedBy as Set<string>)] } : {}),
  } as T;
};

export const toRun = (item: Record<string, unknown>): RunRecord => {
  const run = stripKeys<RunRecord & { heldSteps?: unknown; failedSteps?: unknown; failedOptionalSteps?: unknown; openSinkBuckets?: unknown }>(item);
  const list = (value: unknown) => (value instanceof Set ? [...(value as Set<string>)] : (value as string[] | undefined));
  return {
    ...run,
    heldSteps: list(run.heldSteps),
    failedSteps: list(run.failedSteps),
    failedOptionalSteps: list(run.failedOptionalSteps),
    openSinkBuckets: list(run.openSinkBuckets),
  };
};
/** An event as the API shows it: the stored item without its keys. */
const toEvent = (item: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(item).filter(([name]) => !(eventStorageAttributes as readonly string[]).includes(name)));

export const toStep = (item: Record<string, unknown>): StepRecord => stripKeys<StepRecord>(item);

/** A step's execution number; steps written before generations existed are in their first. */
export const generationOf = (step: Pick<StepRecord, 'generation'>): number => step.generation ?? 1;

/** How many index pages (of 100 runs) one filtered listing call reads at most. */
const filteredReadsPerPage = 10;

/** Reads of runs, steps and events; state changes go through the engine's transactions. */
export const createRunStore = ({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }) => {
  // Reads of steps (and of a step with its run) by key: gathered across the records of an invocation.
  const readItems = createGatheredReads({ documents, tableName });
  const getRun = async (runId: string, consistent = false): Promise<RunRecord | undefined> => {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.run(runId), ConsistentRead: consistent }));
    return Item ? toRun(Item) : undefined;
  };

  /**
   * A run's steps as its workflow version defines them (step-definitions.ts), by step id: read
   * once per run and Lambda instance (the run item, when not at hand, and the version's one
   * gzipped item). Undefined for a run that does not exist.
   */
  const definitions = createDefinitionCache<Map<string, StepRecord>>();
  const definitionsOf = (runId: string, known?: RunRecord): Promise<Map<string, StepRecord> | undefined> =>
    definitions.get(runId, async () => {
      const run = known ?? (await getRun(runId));
      if (!run) return undefined;
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.workflowVersion(run.projectId, run.workflowId, run.workflowVersion) }));
      if (!Item) throw new Error(`run ${runId}: workflow ${run.workflowId} version ${run.workflowVersion} not found`);
      return new Map(stepRecordsOf(run, await stepsOfVersion(documents, tableName, Item)).map((step) => [step.stepId, step]));
    });

  /** A run's step ids in key order, sorted once per cached definition. */
  const sortedIds = new WeakMap<Map<string, StepRecord>, string[]>();
  const sortedIdsOf = (runId: string, defined: Map<string, StepRecord> | undefined): string[] => {
    if (!defined) throw new Error(`run ${runId} not found`);
    let ids = sortedIds.get(defined);
    if (!ids) sortedIds.set(defined, (ids = [...defined.keys()].sort()));
    return ids;
  };

  /**
   * Step records from their items, for these ids (all of the run's when `ids` is undefined): a
   * whole item as it is, a step item born at its first write on top of its definition, a step
   * with no item yet its definition (pending, every dependency remaining).
   */
  const stepsOf = async (runId: string, items: Record<string, unknown>[], ids: string[] | undefined, run?: RunRecord): Promise<StepRecord[]> => {
    const found = new Map(items.map((item) => [(item.sk as string).slice('STEP#'.length), item]));
    const wanted = ids ?? [...found.keys()];
    const complete = ids !== undefined && wanted.every((id) => found.has(id) && isWholeItem(found.get(id)!)) && items.every(isWholeItem);
    if (complete) return items.map(toStep);
    const defined = await definitionsOf(runId, run);
    if (!defined) return items.filter(isWholeItem).map(toStep);
    // Listed in key order (step ids are ASCII: the table's byte order is the string order).
    // Whole items the version does not define (steps a planner added) are steps of the run too.
    const order = ids ?? [...new Set([...defined.keys(), ...found.keys()])].sort();
    return order.flatMap((id) => {
      const item = found.get(id);
      const definition = defined.get(id);
      if (item && isWholeItem(item)) return [toStep(item)];
      if (!definition) return [];
      return [item ? withDefinition(definition, toStep(item)) : definition];
    });
  };

  return {
  getRun,

  async getStep(runId: string, stepId: string, consistent = false): Promise<StepRecord | undefined> {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.step(runId, stepId), ConsistentRead: consistent }));
    if (Item && isWholeItem(Item)) return toStep(Item);
    return (await stepsOf(runId, Item ? [Item] : [], [stepId]))[0];
  },

  /** The run and one of its steps in one strongly consistent round trip (shared with the other records' reads of the moment). */
  async getRunAndStep(runId: string, stepId: string): Promise<{ run?: RunRecord; step?: StepRecord }> {
    const [runItem, stepItem] = await readItems([keys.run(runId), keys.step(runId, stepId)], true);
    const run = runItem ? toRun(runItem) : undefined;
    if (!run) return {};
    return { run, step: (await stepsOf(runId, stepItem ? [stepItem] : [], [stepId], run))[0] };
  },

  /** Steps as the run's version defines them, without reading their items (EngineStore.definedSteps). */
  async definedSteps(run: RunRecord, stepIds: string[]): Promise<StepRecord[]> {
    const defined = await definitionsOf(run.id, run);
    return stepIds.flatMap((id) => (defined?.has(id) ? [defined.get(id)!] : []));
  },

  /** The ids of the run's roots as its version defines them (steps with no dependency left at creation). */
  async definedRoots(run: RunRecord): Promise<string[]> {
    const defined = await definitionsOf(run.id, run);
    return [...(defined?.values() ?? [])].filter((step) => step.status === 'pending' && step.remaining === 0).map((step) => step.stepId);
  },

  /** Several steps of a run by id (order not kept). */
  async getSteps(runId: string, stepIds: string[], consistent = false): Promise<StepRecord[]> {
    const items = (await readItems(stepIds.map((stepId) => keys.step(runId, stepId)), consistent)).filter((item) => item !== undefined);
    return stepsOf(runId, items, stepIds);
  },

  /** The run's own usage item (what the meter added to the run beyond its steps); undefined for a run from before it. */
  async getRunUsage(runId: string): Promise<unknown> {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.runUsage(runId) }));
    return Item?.usage;
  },

  /**
   * Every step of the run with only what the run detail sums (status, attempts, usage, spend,
   * budget): its items read with a projection, so a 10,000-step run's detail moves a few hundred
   * bytes per step instead of each step's history and output (docs/ARCHITECTURE.md, "Bigger runs").
   * Not for anything that needs a step's input, output or dependencies.
   */
  async listStepTotals(runId: string): Promise<StepRecord[]> {
    const names = ['pk', 'sk', 'stepId', 'kind', 'status', 'attempt', 'usage', 'agentUsage', 'llmUsage', 'budget'];
    const items = await queryAll(documents, {
      TableName: tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ProjectionExpression: names.map((name) => `#${name}`).join(', '),
      ExpressionAttributeNames: Object.fromEntries(names.map((name) => [`#${name}`, name])),
      ExpressionAttributeValues: { ':pk': `RUN#${runId}`, ':prefix': 'STEP#' },
    });
    return stepsOf(runId, items, undefined);
  },

  /** Every step of the run, those with no item yet as their definition says (pending). */
  async listSteps(runId: string): Promise<StepRecord[]> {
    return stepsOf(runId, await queryPrefix(documents, tableName, `RUN#${runId}`, 'STEP#'), undefined);
  },

  /**
   * One page of the run's steps in step-id order (the table's order, as listSteps), from the
   * definitions of its version (cached per Lambda instance) and the items of that page's steps
   * only (BatchGetItem): a 10,000-step run is read a page at a time, never whole. The cursor is the
   * key of the page's last step; none when it was the run's last.
   */
  async listStepsPage(run: RunRecord, options: { limit: number; cursor?: string }): Promise<Page<StepRecord>> {
    const pk = `RUN#${run.id}`;
    const start = decodeCursor(options.cursor, (key) => Object.keys(key).length === 2 && key.pk === pk && typeof key.sk === 'string' && key.sk.startsWith('STEP#'));
    const after = (start?.sk as string | undefined)?.slice('STEP#'.length);
    // The items after the position (born steps, and a planner's steps, which no version defines), and the definitions.
    const [response, defined] = await Promise.all([
      documents.send(
        new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': pk, ':prefix': 'STEP#' }, Limit: options.limit, ExclusiveStartKey: start }),
      ),
      definitionsOf(run.id, run),
    ]);
    const items = response.Items ?? [];
    const idOf = (item: Record<string, unknown>) => (item.sk as string).slice('STEP#'.length);
    const page = mergedPage(sortedIdsOf(run.id, defined), after, items.map(idOf), response.LastEvaluatedKey ? idOf(items.at(-1) ?? start ?? { sk: 'STEP#' }) : undefined, options.limit);
    const wanted = new Set(page.ids);
    const steps = await stepsOf(run.id, items.filter((item) => wanted.has(idOf(item))), page.ids, run);
    return { items: steps, cursor: page.more && page.ids.length ? encodeCursor(keys.step(run.id, page.ids.at(-1)!)) : undefined };
  },

  /**
   * A run's history: its event items and its steps' own histories (step events not for the bus
   * are kept on the step item, "Write budget per step"), merged in id order (ULIDs: time order).
   * Reads the run's partition once per page; the cursor (and `after`) is a position by event id.
   */
  async listEvents(runId: string, options: { order: 'asc' | 'desc'; limit: number; cursor?: string; after?: string }): Promise<Page<Record<string, unknown>>> {
    const position =
      options.after ??
      (decodeCursor(
        options.cursor,
        (key) => Object.keys(key).length === 2 && key.pk === `RUN#${runId}` && typeof key.sk === 'string' && key.sk.startsWith('EVENT#'),
      )?.sk as string | undefined)?.slice('EVENT#'.length);
    const items = await queryAll(documents, { TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `RUN#${runId}` } });
    const events: Record<string, unknown>[] = [];
    const projectId = (items.find((item) => item.sk === 'META')?.projectId as string | undefined) ?? '';
    for (const item of items) {
      const sk = item.sk as string;
      if (sk.startsWith('EVENT#')) events.push(toEvent(item));
      else if (sk.startsWith('STEP#')) events.push(...(historyEvents(item, projectId) as unknown as Record<string, unknown>[]));
    }
    const ascending = options.order === 'asc';
    const ordered = events.sort((a, b) => ((a.id as string) < (b.id as string) ? -1 : 1) * (ascending ? 1 : -1));
    const rest = position === undefined ? ordered : ordered.filter((event) => (ascending ? (event.id as string) > position : (event.id as string) < position));
    const page = rest.slice(0, options.limit);
    const last = page.at(-1);
    return { items: page, cursor: rest.length > page.length && last ? encodeCursor(keys.runEvent(runId, last.id as string)) : undefined };
  },

  /**
   * A project's events (its own, its runs' and their steps'), newest first: keys from the feed
   * partition of the listings index, then the events in one BatchGetItem.
   */
  async listProjectEvents(projectId: string, options: { limit: number; cursor?: string }): Promise<Page<Record<string, unknown>>> {
    const page = await listingKeys(documents, tableName, {
      partition: listingsIndex.feed(projectId),
      limit: options.limit,
      newestFirst: true,
      ...(options.cursor ? { cursor: options.cursor } : {}),
      isItemKey: (key) => ((key.pk as string) === `PROJECT#${projectId}` || (key.pk as string).startsWith('RUN#')) && (key.sk as string).startsWith('EVENT#'),
    });
    const items = await getInOrder(documents, tableName, page.keys);
    return { items: items.map(toEvent), cursor: page.cursor };
  },

  /**
   * A project's runs, newest first: a creation time range is a key range (run ids are ULIDs);
   * status, workflow and tag are filters, read at most `filteredReadsPerPage` index pages deep
   * per call (a short page with a cursor means: more may follow).
   */
  async listRuns(
    projectId: string,
    options: { status?: RunStatus; workflowId?: string; from?: string; to?: string; tag?: { key: string; value: string }; limit: number; cursor?: string },
  ): Promise<Page<RunRecord>> {
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':pk': projectRunsIndex.value(projectId) };
    const names: Record<string, string> = {};
    const { low, high } = idRange('run', options.from ? Date.parse(options.from) : undefined, options.to ? Date.parse(options.to) : undefined);
    let keyCondition = `${projectRunsIndex.partitionKey} = :pk`;
    if (low) values[':low'] = low;
    if (high) values[':high'] = high;
    if (low && high) keyCondition += ` AND ${projectRunsIndex.sortKey} BETWEEN :low AND :high`;
    else if (low) keyCondition += ` AND ${projectRunsIndex.sortKey} >= :low`;
    else if (high) keyCondition += ` AND ${projectRunsIndex.sortKey} <= :high`;
    if (options.tag) {
      filters.push('#tags.#tagKey = :tagValue');
      names['#tags'] = 'tags';
      names['#tagKey'] = options.tag.key;
      values[':tagValue'] = options.tag.value;
    }
    if (options.status) {
      filters.push('#status = :status');
      values[':status'] = options.status;
      names['#status'] = 'status';
    }
    if (options.workflowId) {
      filters.push('workflowId = :workflowId');
      values[':workflowId'] = options.workflowId;
    }
    const runs: RunRecord[] = [];
    let start = decodeCursor(
      options.cursor,
      (key) =>
        Object.keys(key).length === 4 &&
        key[projectRunsIndex.partitionKey] === projectRunsIndex.value(projectId) &&
        typeof key.pk === 'string' && key.pk.startsWith('RUN#') && key.sk === 'META' && key[projectRunsIndex.sortKey] === key.pk.slice('RUN#'.length) &&
        // A cursor from the same listing with another time range: DynamoDB refuses a start key outside the key condition.
        (!low || (key[projectRunsIndex.sortKey] as string) >= low) && (!high || (key[projectRunsIndex.sortKey] as string) <= high),
    );
    // A filter applies after DynamoDB's Limit: read index pages of 100 until the page is full,
    // at most a few deep, and when a read matches more than the page holds, the cursor is the
    // last run taken.
    const filtered = filters.length > 0;
    let reads = 0;
    do {
      const response = await documents.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: projectRunsIndex.name,
          KeyConditionExpression: keyCondition,
          ...(filtered ? { FilterExpression: filters.join(' AND ') } : {}),
          ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: filtered ? 100 : options.limit - runs.length,
          ExclusiveStartKey: start,
        }),
      );
      const items = response.Items ?? [];
      const room = options.limit - runs.length;
      reads += 1;
      if (items.length > room) {
        const last = items[room - 1] as Record<string, unknown>;
        runs.push(...items.slice(0, room).map(toRun));
        start = { pk: last.pk, sk: last.sk, [projectRunsIndex.partitionKey]: last[projectRunsIndex.partitionKey], [projectRunsIndex.sortKey]: last[projectRunsIndex.sortKey] };
        break;
      }
      runs.push(...items.map(toRun));
      start = response.LastEvaluatedKey;
    } while (start && runs.length < options.limit && reads < filteredReadsPerPage);
    return { items: runs, cursor: encodeCursor(start) };
  },

  /**
   * A project's steps waiting in needs_qa, oldest first, with their runs: keys from the inbox
   * partition of the listings index, then steps and runs in one BatchGetItem. The index is
   * eventually consistent, so a step that moved on a moment ago, or whose run has ended, is
   * left out by what the items say.
   */
  async listInbox(projectId: string, options: { limit: number; cursor?: string }): Promise<Page<{ step: StepRecord; run: RunRecord }>> {
    const page = await listingKeys(documents, tableName, {
      partition: listingsIndex.inbox(projectId),
      limit: options.limit,
      ...(options.cursor ? { cursor: options.cursor } : {}),
      isItemKey: (key) => (key.pk as string).startsWith('RUN#') && (key.sk as string).startsWith('STEP#'),
    });
    const stepKeys = page.keys;
    const runKeys = [...new Set(stepKeys.map((key) => key.pk))].map((pk) => ({ pk, sk: 'META' }));
    const items = await getInOrder(documents, tableName, [...stepKeys, ...runKeys]);
    const runs = new Map(items.filter((item) => item.sk === 'META').map((item) => [item.pk as string, toRun(item)]));
    const steps = await Promise.all(
      items.filter((item) => item.sk !== 'META').map(async (item) => {
        const run = runs.get(item.pk as string);
        const step = isWholeItem(item) || !run ? toStep(item) : (await stepsOf(run.id, [item], [(item.sk as string).slice('STEP#'.length)], run))[0];
        return { step, run };
      }),
    );
    const waiting = steps
      .filter((entry): entry is { step: StepRecord; run: RunRecord } => entry.step?.status === 'needs_qa' && !!entry.run && !finalRunStatuses.includes(entry.run.status));
    return { items: waiting, cursor: page.cursor };
  },

  /** The run an Idempotency-Key created, and the hash of the request that created it (absent on records older than the hash). */
  async findIdempotencyRecord(projectId: string, key: string): Promise<{ runId: string; requestHash?: string } | undefined> {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.idempotency(projectId, key), ConsistentRead: true }));
    if (!Item) return undefined;
    return { runId: Item.runId as string, ...(typeof Item.requestHash === 'string' ? { requestHash: Item.requestHash } : {}) };
  },

  /** Writes new items in batches of 25 (run creation's steps, before the run commits). */
  async putAll(items: Record<string, unknown>[]): Promise<void> {
    for (let start = 0; start < items.length; start += 25) {
      let request: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> | undefined = {
        [tableName]: items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } })),
      };
      let delay = 50;
      while (request && (request[tableName]?.length ?? 0) > 0) {
        const response = await documents.send(new BatchWriteCommand({ RequestItems: request }));
        request = response.UnprocessedItems as typeof request;
        if (request && (request[tableName]?.length ?? 0) > 0) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 1000);
        }
      }
    }
  },
  };
};

export type RunStore = ReturnType<typeof createRunStore>;
