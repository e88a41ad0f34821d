import { describe, expect, it } from 'vitest';
import { dispatchDueAt, planDispatchRecovery, withLostTestSends, type MarkedStep } from '#shared/engine/dispatch-markers';
import type { Dispatch } from '#shared/engine/dispatch';
import { dispatchMarker } from '#shared/store/engine-store';

const now = new Date('2026-11-30T12:00:00.000Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();
const marked = (stepId: string, overrides: Partial<MarkedStep> = {}): MarkedStep => ({
  runId: 'run_1',
  stepId,
  status: 'queued',
  attempt: 0,
  dueAt: ago(120),
  ...overrides,
});

describe('dispatch markers', () => {
  it('files a queued step in the timers index under DISPATCH, due when its message is', () => {
    expect(dispatchMarker(now)).toEqual({ timerPk: 'DISPATCH', dueAt: '2026-11-30T12:00:00.000Z' });
    expect(dispatchDueAt(now, 30).toISOString()).toBe('2026-11-30T12:00:30.000Z');
    expect(dispatchDueAt(now)).toEqual(now);
  });

  it('re-sends queued steps overdue past the grace, with the attempt they wait for', () => {
    const plan = planDispatchRecovery([marked('a', { attempt: 2 }), marked('young', { dueAt: ago(30) })], now, 60);

    expect(plan.resend.map(({ dispatch }) => dispatch)).toEqual([{ message: { runId: 'run_1', stepId: 'a', attempt: 2 } }]);
    expect(plan.clear).toEqual([]);
  });

  it('keeps what is left of a not-before delay and sends at once a gate already past', () => {
    const later = new Date(now.getTime() + 90_000).toISOString();
    const plan = planDispatchRecovery([marked('gated', { notBefore: later }), marked('past', { notBefore: ago(10) })], now, 60);

    expect(plan.resend.map(({ dispatch }) => [dispatch.message.stepId, dispatch.delaySeconds])).toEqual([
      ['gated', 90],
      ['past', undefined],
    ]);
  });

  it('re-sends a held running step (a takeover its paused run held) with a message for the attempt before, which looks at its lease', () => {
    const plan = planDispatchRecovery([marked('taken', { status: 'running', attempt: 2, notBefore: new Date(now.getTime() + 90_000).toISOString() })], now, 60);

    expect(plan.resend.map(({ dispatch }) => dispatch)).toEqual([{ message: { runId: 'run_1', stepId: 'taken', attempt: 1 } }]);
    expect(plan.resend[0]!.step.attempt).toBe(2);
    expect(plan.clear).toEqual([]);
  });

  it('only clears the marker of a step that moved on without a claim', () => {
    const plan = planDispatchRecovery([marked('cancelled', { status: 'cancelled' }), marked('skipped', { status: 'skipped' })], now, 60);

    expect(plan.resend).toEqual([]);
    expect(plan.redo).toEqual([]);
    expect(plan.clear.map((step) => step.stepId)).toEqual(['cancelled', 'skipped']);
  });

  it('sends a finished step whose follow-up was cut short to the worker, to redo it', () => {
    const plan = planDispatchRecovery([marked('approved', { status: 'completed', attempt: 1 }), marked('optional', { status: 'failed', attempt: 2 }), marked('young', { status: 'completed', dueAt: ago(30) })], now, 60);

    expect(plan.redo.map(({ dispatch }) => dispatch)).toEqual([
      { message: { runId: 'run_1', stepId: 'approved', attempt: 1 } },
      { message: { runId: 'run_1', stepId: 'optional', attempt: 2 } },
    ]);
    expect(plan.resend).toEqual([]);
    expect(plan.clear).toEqual([]);
  });

  it('the injected lost send drops only the test steps, without an error', async () => {
    const sent: Dispatch[] = [];
    const dispatcher = withLostTestSends({ send: async (dispatches: Dispatch[]) => void sent.push(...dispatches) });

    const report = await dispatcher.send([
      { message: { runId: 'run_1', stepId: 'lost-send-root', attempt: 0 } },
      { message: { runId: 'run_1', stepId: 'kept', attempt: 0 } },
    ]);

    expect(sent.map((dispatch) => dispatch.message.stepId)).toEqual(['kept']);
    // Reported, so that nothing after the sends happens (as after a death right after the commit).
    expect(report).toEqual({ dropped: 1 });
    expect(await dispatcher.send([{ message: { runId: 'run_1', stepId: 'kept', attempt: 0 } }])).toBeUndefined();
  });
});
