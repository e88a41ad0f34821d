import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError } from '#shared/domain/errors';
import type { LifecycleEvent } from '#shared/domain/events';
import { completeByCallback, heartbeatByToken } from '#shared/engine/callbacks';
import type { EngineDeps } from '#shared/engine/context';
import { runAction, stepAction } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import { acceptDelivery } from '#shared/engine/webhook-deliveries';
import { reactToDelivery } from '#shared/engine/webhook-reactions';
import { approvalExecutor } from '#shared/executors/approval';
import type { Executor } from '#shared/executors/types';
import { waitExecutor } from '#shared/executors/wait';
import { webhookExecutor } from '#shared/executors/webhook';
import { defaultProjectSettings } from '#shared/schemas/projects';
import { calm, Crash, crashing, duplicateOf, fateArbitrary, receive, type Fate } from '#test/helpers/crashing';
import { createEngineHarness, projectId } from '#test/helpers/engine-harness';
import { expectEachAttemptOnce, expectStepRecorded, propertySeed } from '#test/helpers/engine-properties';

/**
 * Property: beside SQS's duplicates and dying workers (interleavings.test.ts), everyone else who
 * writes to a run may die at any point of their work too: people approving, rejecting, pausing,
 * resuming, retrying and cancelling; agents calling back and sending heartbeats (twice, late, for
 * attempts long gone); webhook deliveries and the reactions to them (EventBridge retries a
 * reaction that died); the sweeper. Runs mix every kind that stops a run's flow: approval gates,
 * webhook waits, agents that answer "pending" and finish through their callback, time gates near
 * and far (parked), and plain steps that fail. Whatever happens, once the world calms down (people
 * and agents answer what waits, the sweeper runs) every run ends (completed, or cancelled when a
 * person cancelled it) with each step released once, no attempt executed twice, each step
 * completed once at most, every change of a step and of the run carried by its event, every event
 * published, and the inbox holding exactly the steps that wait.
 */

const kinds = ['work', 'approval', 'webhook', 'wait', 'agent'] as const;
type Kind = (typeof kinds)[number];
const retry = { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 2, jitter: 'full' as const };

const dagArbitrary = fc.integer({ min: 1, max: 6 }).chain((size) =>
  fc.tuple(
    fc.array(fc.array(fc.boolean(), { minLength: size, maxLength: size }), { minLength: size, maxLength: size }),
    fc.array(fc.constantFrom<Kind>(...kinds), { minLength: size, maxLength: size }),
    // Time gates: within a queue delay, or far enough to be parked for the sweeper.
    fc.array(fc.constantFrom(3, 60, 1500), { minLength: size, maxLength: size }),
    fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 2 })), { maxLength: 3 }),
    fc.array(fc.boolean(), { minLength: size, maxLength: size }),
  ).map(([edges, kindOf, seconds, failures, deadlines]) => ({
    steps: Array.from({ length: size }, (_, index) => {
      const id = `s${index}`;
      const dependsOn = Array.from({ length: index }, (_, parent) => parent).filter((parent) => edges[index]![parent]).map((parent) => `s${parent}`);
      const kind = kindOf[index]!;
      const spec = { id, dependsOn, retry };
      if (kind === 'approval') return { ...spec, kind: 'approval', input: {}, ...(deadlines[index] ? { timeoutSeconds: 900 } : {}) };
      if (kind === 'webhook') return { ...spec, kind: 'webhook', input: { key: `k-${id}` } };
      if (kind === 'wait') return { ...spec, kind: 'wait', input: { seconds: seconds[index]! } };
      if (kind === 'agent') return { ...spec, kind: 'http', input: {}, callbackTimeoutSeconds: 600, heartbeatSeconds: 90 };
      return { ...spec, kind: 'work' };
    }),
    failures: new Set(failures.map(([step, attempt]) => `s${step}#${attempt}`)),
  })),
);

type Action =
  | { type: 'none' | 'start' | 'pause' | 'resume' | 'retry' | 'cancel' | 'react' | 'sweep' }
  | { type: 'approve' | 'reject'; pick: number }
  | { type: 'callback'; pick: number; ok: boolean; twice: boolean }
  | { type: 'heartbeat'; pick: number }
  | { type: 'webhook'; pick: number; twice: boolean };

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Action>({ type: 'none' }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constantFrom<'approve' | 'reject'>('approve', 'approve', 'reject'), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constantFrom<'start' | 'pause' | 'resume' | 'retry'>('start', 'pause', 'resume', 'retry') }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant<'callback'>('callback'), pick: fc.nat(), ok: fc.boolean(), twice: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant<'heartbeat'>('heartbeat'), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant<'webhook'>('webhook'), pick: fc.nat(), twice: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant<Action>({ type: 'react' }) },
  { weight: 2, arbitrary: fc.constant<Action>({ type: 'sweep' }) },
);

const roundArbitrary = fc.record({
  /** Which visible messages, how many at once, one of them twice, the first one's fate. */
  pick: fc.nat(),
  together: fc.integer({ min: 0, max: 2 }),
  duplicate: fc.boolean(),
  fate: fateArbitrary(12),
  /** Someone else at the same moment, and their fate. */
  action: actionArbitrary,
  actionFate: fateArbitrary(12),
  advanceSeconds: fc.constantFrom(0, 1, 3, 9, 30, 200),
});
type Round = typeof roundArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The project has no triggers: deliveries start no runs here (shared/engine/triggers.ts is tested on its own). */
const noTriggers = { workflows: { get: async () => undefined }, triggers: { read: async () => undefined, list: async () => [] } };

const sweepOptions = { eventGraceSeconds: 30, limit: 1000, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 };

/** What the run's own event history says its status is. */
const runStatusFromEvents = (types: string[]): string => {
  const byType: Record<string, string> = {
    'run.created': 'pending',
    'run.started': 'running',
    'run.paused': 'paused',
    'run.resumed': 'running',
    'run.blocked': 'blocked',
    'run.retried': 'running',
    'run.cancelled': 'cancelled',
    'run.completed': 'completed',
  };
  return types.reduce((status, type) => byType[type] ?? status, 'none');
};

/** One run's world: the engine, its agent (who keeps the callback tokens it was given), the bus's reactions, what happened. */
function world(failures: Set<string>) {
  const tokens: { stepId: string; attempt: number; token: string }[] = [];
  const agent: Executor = {
    kind: 'http',
    input: z.unknown(),
    async run(_input, context) {
      tokens.push({ stepId: context.stepId, attempt: context.attempt, token: context.callback!.url.split('/').pop()! });
      return { status: 'pending' };
    },
  };
  const h = createEngineHarness({
    failWhen: ({ stepId, attempt }) => (failures.has(`${stepId}#${attempt}`) ? 'retryable' : undefined),
    executors: [approvalExecutor, webhookExecutor, waitExecutor, agent],
    callbackBaseUrl: 'https://api.baton.test',
  });
  /** The step worker's own deps: its releases are recovered by its message's redelivery. */
  const worker = { ...h.deps, releasesRecoveredByRedelivery: true };
  const handled = new Set<string>();
  const completedByCallback: string[] = [];
  let deliveries = 0;
  return { h, worker, tokens, handled, completedByCallback, nextDelivery: () => (deliveries += 1) };
}
type World = ReturnType<typeof world>;

/** Bus events a reaction has not yet handled (EventBridge retries one whose function died). */
const pendingReactions = (w: World): LifecycleEvent[] => w.h.published.filter((event) => event.type === 'webhook.received' && !w.handled.has(event.id));

/** One action by a person, an agent, a webhook sender, the reactions function or the sweeper; a crash or a 409 is their problem. */
async function act(w: World, runId: string, action: Action, deps: EngineDeps): Promise<void> {
  const { h } = w;
  const run = h.run(runId);
  const steps = await h.deps.store.listSteps(runId);
  const nth = <T>(list: T[], pick: number): T | undefined => list[pick % Math.max(1, list.length)];
  try {
    switch (action.type) {
      case 'approve':
      case 'reject': {
        const gate = nth(steps.filter((step) => step.kind === 'approval' && step.status === 'needs_qa'), action.pick);
        if (gate) await stepAction(deps, run, gate, action.type, 'person', action.type === 'reject' ? { reason: 'not good enough' } : {});
        return;
      }
      case 'start':
      case 'pause':
      case 'resume':
      case 'retry':
      case 'cancel':
        await runAction(deps, run, action.type, 'person');
        return;
      case 'callback': {
        const issued = nth(w.tokens, action.pick);
        if (!issued) return;
        const reply = action.ok ? { ok: true, data: { by: 'agent' } } : { ok: false, error: 'the agent gave up', retryable: true };
        const call = async (callDeps: EngineDeps) => {
          const result = await completeByCallback(callDeps, issued.token, reply);
          if (result.outcome === 'completed') w.completedByCallback.push(issued.stepId);
        };
        // Twice: the agent's retry of a callback it thinks was lost, at the same moment.
        await Promise.all([call(deps), ...(action.twice ? [call(crashing(h.deps, calm, [1, 0, 2]))] : [])]);
        return;
      }
      case 'heartbeat': {
        const issued = nth(w.tokens, action.pick);
        if (issued) await heartbeatByToken(deps, issued.token);
        return;
      }
      case 'webhook': {
        const hook = nth(steps.filter((step) => step.kind === 'webhook'), action.pick);
        if (!hook) return;
        // Twice: the sender's redelivery under the same delivery id.
        const deliveryId = action.twice ? `d-${hook.stepId}` : `d-${hook.stepId}-${w.nextDelivery()}`;
        await acceptDelivery(deps, projectId, { provider: 'generic', deliveryId, event: 'webhook', key: `k-${hook.stepId}` }, Buffer.from('{}'));
        return;
      }
      case 'react': {
        const [event] = pendingReactions(w);
        if (!event) return;
        await reactToDelivery({ engine: deps, settingsOf: async () => defaultProjectSettings, triggers: noTriggers }, event);
        w.handled.add(event.id);
        return;
      }
      case 'sweep':
        await sweep(deps, sweepOptions);
        return;
      case 'none':
        return;
    }
  } catch (error) {
    if (error instanceof Crash || error instanceof ConflictError) return;
    throw error;
  }
}

/** How the client creates the run: started at once or later (a person's `start`), its request dying anywhere (in createRun, in the start). */
const creationArbitrary = fc.record({ fate: fateArbitrary(10), startLater: fc.boolean() });

/** The client's request creates the run; one that dies (a 5xx) is repeated under the same Idempotency-Key, which answers with the run it created. */
async function create(w: World, steps: Parameters<World['h']['startRun']>[0], { fate, startLater }: { fate: Fate; startLater: boolean }, yields: number[]): Promise<string> {
  const request = { idempotencyKey: 'create-the-run', start: !startLater };
  try {
    return await w.h.startRun(steps, { ...request, as: crashing(w.h.deps, fate, yields) });
  } catch (error) {
    if (!(error instanceof Crash)) throw error;
    return w.h.startRun(steps, request);
  }
}

/** Delivers what is visible now, without moving the clock (at most `limit` receives). */
async function deliverVisible(w: World, limit = 500) {
  for (let count = 0; w.h.visible().length > 0; count += 1) {
    if (count >= limit) throw new Error(`still delivering after ${limit} receives`);
    await receive(w.h, w.worker, w.h.visible()[0]!, calm, [0]);
  }
}

/**
 * The world calms down: nobody crashes; every 30 s the worker takes what is visible, the bus's
 * reactions run, agents call back for what waits on them, people approve every gate, senders
 * deliver every awaited webhook, resume what is paused and retry what is blocked, and the sweeper runs.
 */
async function settle(w: World, runId: string) {
  const { h } = w;
  // A cancelled run's queued steps are cancelled by their messages (or by the sweeper's re-send of a held one's).
  const settled = async () =>
    ['completed', 'cancelled'].includes(h.run(runId).status) && pendingReactions(w).length === 0 && (await h.deps.store.listSteps(runId)).every((step) => !['queued', 'running'].includes(step.status));
  for (let pass = 0; pass < 400 && !(await settled()); pass += 1) {
    await deliverVisible(w);
    for (let left = pendingReactions(w).length; left > 0; left -= 1) await act(w, runId, { type: 'react' }, h.deps);
    const run = h.run(runId);
    const steps = await h.deps.store.listSteps(runId);
    if (!['completed', 'cancelled'].includes(run.status)) {
      for (const step of steps) {
        if (step.status === 'running' && step.waitingFor === 'callback') {
          const latest = w.tokens.filter((issued) => issued.stepId === step.stepId && issued.attempt === step.attempt).at(-1);
          if (latest) await completeByCallback(h.deps, latest.token, { ok: true, data: { by: 'agent' } }).then((result) => result.outcome === 'completed' && w.completedByCallback.push(step.stepId));
        }
        if (step.status === 'needs_qa' && step.kind === 'approval') await act(w, runId, { type: 'approve', pick: 0 }, h.deps);
        if (step.status === 'needs_qa' && step.kind === 'webhook') await acceptDelivery(h.deps, projectId, { provider: 'generic', deliveryId: `calm-${step.stepId}-${w.nextDelivery()}`, event: 'webhook', key: `k-${step.stepId}` }, Buffer.from('{}'));
      }
      if (run.status === 'pending') await act(w, runId, { type: 'start' }, h.deps);
      if (run.status === 'paused') await act(w, runId, { type: 'resume' }, h.deps);
      if (run.status === 'blocked') await act(w, runId, { type: 'retry' }, h.deps);
    }
    h.advance(30);
    await sweep(h.deps, sweepOptions);
  }
  // What is still in the queue (delayed checks of finished steps) goes through; the last events are republished.
  for (let pass = 0; pass < 5 && h.queue.length > 0; pass += 1) {
    h.advance(Math.max(0, (Math.min(...h.queue.map((entry) => entry.visibleAt)) - h.now()) / 1000));
    await deliverVisible(w);
  }
  h.advance(120);
  await sweep(h.deps, sweepOptions);
}

let roundsPlayed = 0;
let actionsPlayed = 0;

async function play(w: World, runId: string, rounds: Round[], yields: number[]) {
  const { h } = w;
  for (const round of rounds) {
    const visible = h.visible();
    const chosen = [...new Set(Array.from({ length: Math.min(round.together, visible.length) }, (_, index) => visible[(round.pick + index) % visible.length]!))];
    if (round.duplicate && chosen[0]) chosen.push(duplicateOf(h, chosen[0]));
    roundsPlayed += 1;
    if (round.action.type !== 'none') actionsPlayed += 1;
    // The deliveries (the first meets its fate) and the action (with its own) at the same moment.
    await Promise.all([
      ...chosen.map((entry, index) => receive(h, w.worker, entry, index === 0 ? round.fate : calm, yields)),
      act(w, runId, round.action, crashing(h.deps, round.actionFate, [...yields].reverse())),
    ]);
    h.advance(round.advanceSeconds);
  }
}

describe('the engine under crashes of people, agents, webhooks, reactions and the sweeper, with every kind of wait', () => {
  it('ends every run with each step released once, no attempt run twice, every change recorded and published, the inbox exact', async () => {
    const numRuns = Number(process.env.ENGINE_ACTORS_PROPERTY_RUNS ?? 1500);
    const { seed, replaying, ...replay } = propertySeed('ENGINE_ACTORS_SEED');
    let generated = 0;
    let cancelledRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        dagArbitrary,
        fc.array(roundArbitrary, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 16 }),
        fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(29) }),
        creationArbitrary,
        async ({ steps, failures }, rounds, yields, cancelAt, creation) => {
          generated += 1;
          const w = world(failures);
          const { h } = w;
          const runId = await create(w, steps, creation, yields);
          // Sometimes a person cancels the run, at some round (and may crash doing it).
          const played = cancelAt >= 0 ? [...rounds.slice(0, cancelAt), { ...rounds[0]!, together: 0, action: { type: 'cancel' } as Action }, ...rounds.slice(cancelAt)] : rounds;
          await play(w, runId, played, yields);
          await settle(w, runId);

          const run = h.run(runId);
          const runTypes = h.typesOf(runId);
          const cancelled = runTypes.includes('run.cancelled');
          if (cancelled) cancelledRuns += 1;
          // Nothing lost: the run ended, as the person who cancelled it (or nobody) asked.
          expect(run.status).toBe(cancelled ? 'cancelled' : 'completed');
          expect(runStatusFromEvents(runTypes)).toBe(run.status);
          expect(runTypes.filter((type) => type === 'run.completed').length).toBeLessThanOrEqual(1);
          for (const { id } of steps) {
            const step = h.step(runId, id);
            const types = h.typesOf(runId, id);
            // A cancelled run leaves no step half-way: each ended or was never released.
            expect(step.status, id).toMatch(cancelled ? /^(completed|failed|cancelled|pending)$/ : /^completed$/);
            // Released once: one step.queued per released step, ever. A single-parent child whose
            // run was cancelled before its claim is cancelled from pending (claimReleased): none.
            const queued = types.filter((type) => type === 'step.queued').length;
            if (step.status === 'cancelled') expect(queued, id).toBeLessThanOrEqual(1);
            else expect(queued, id).toBe(step.status === 'pending' ? 0 : 1);
            expect(types.filter((type) => type === 'step.completed').length, id).toBeLessThanOrEqual(1);
            expectStepRecorded(h, runId, id);
          }
          // No attempt executed twice, each after its dependencies, all under one idempotency key.
          expectEachAttemptOnce(h, runId);
          // A callback completes its step once, however often and concurrently the agent calls.
          expect(new Set(w.completedByCallback).size).toBe(w.completedByCallback.length);
          // The inbox holds exactly the steps waiting in needs_qa; every event reached the bus.
          expect(h.memory.inbox().sort()).toEqual((await h.deps.store.listSteps(runId)).filter((step) => step.status === 'needs_qa').map((step) => `${runId}/${step.stepId}`).sort());
          expect(h.memory.events().filter((event) => !event.published)).toEqual([]);
        },
      ),
      // A fresh seed each time (printed): a failure prints its seed and path, which ENGINE_ACTORS_SEED and ENGINE_ACTORS_PATH replay.
      { numRuns, seed, ...replay },
    );
    console.log(`engine actors property: ${generated} generated runs (${cancelledRuns} cancelled), ${roundsPlayed} rounds, ${actionsPlayed} actions by people, agents, senders, reactions and the sweeper`);
    if (!replaying) expect(generated).toBe(numRuns);
  }, 300_000);
});
