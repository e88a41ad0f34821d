import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stepStatuses, stepTransitions, stepTransitionsMarkdown, type StepTransitionName } from '#shared/domain/states';
import { runCondition, stepCondition, stepGuardHolds } from '#shared/store/step-conditions';

const running = { status: 'running', attempt: 2, leaseUntil: '2026-11-30T12:00:10.000Z' };

describe('the step transitions table', () => {
  it('is what docs/ARCHITECTURE.md shows', () => {
    expect(readFileSync('docs/ARCHITECTURE.md', 'utf8')).toContain(stepTransitionsMarkdown());
  });

  it('reaches every step status but blocked (a run status of old steps) from pending', () => {
    const reached = new Set<string>(['pending']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const rule of Object.values(stepTransitions)) {
        if (rule.from.some((status) => reached.has(status)) && !reached.has(rule.to)) grew = reached.add(rule.to).size > 0;
      }
    }
    expect(stepStatuses.filter((status) => !reached.has(status))).toEqual(['blocked']);
  });

  it('derives the DynamoDB conditions the engine used to write by hand', () => {
    expect(stepCondition('claim', { attempt: 1 })).toEqual({ condition: '#status = :from0 AND #attempt = :attempt', values: { ':from0': 'queued', ':attempt': 1 } });
    expect(stepCondition('takeover', { attempt: 1, now: 'T' })).toEqual({ condition: '#status = :from0 AND #attempt = :attempt AND #leaseUntil < :now', values: { ':from0': 'running', ':attempt': 1, ':now': 'T' } });
    expect(stepCondition('heartbeat', { attempt: 3, now: 'T' })?.condition).toBe('#status = :from0 AND #attempt = :attempt AND #waitingFor = :callback AND #leaseUntil > :now');
    // From pending, a step with no item yet qualifies: it is born by the write (its definition is pending).
    expect(stepCondition('release', { parentId: 'a' })?.condition).toBe('attribute_not_exists(#pk) OR (#status = :from0 AND NOT contains(#releasedBy, :parent))');
    expect(stepCondition('skip', { readStatus: 'pending' })?.condition).toBe('attribute_not_exists(#pk) OR (#status = :from0)');
    expect(stepCondition('skip', { readStatus: 'needs_qa' })?.condition).toBe('#status = :from0');
    expect(stepCondition('approve', {})?.condition).toBe('#status = :from0');
    expect(stepCondition('claimReleased', { attempt: 0 })).toEqual({ condition: 'attribute_not_exists(#pk) OR (#status = :from0 AND #attempt = :attempt AND #remaining = :one AND attribute_not_exists(#releasedBy))', values: { ':from0': 'pending', ':attempt': 0, ':one': 1 } });
    expect(stepCondition('deadLetter', { attempt: 1, readStatus: 'queued' })).toEqual({ condition: '#status = :from0 AND #attempt = :attempt', values: { ':from0': 'queued', ':attempt': 1 } });
    expect(runCondition('engine:complete').condition).toBe('#status IN (:run0, :run1, :run2) AND #remainingSinks <= :zero AND attribute_not_exists(#openSinkBuckets)');
    expect(runCondition('cancel').values).toEqual({ ':run0': 'pending', ':run1': 'running', ':run2': 'paused', ':run3': 'blocked' });
  });

  it('refuses, without a write, a transition from a status read that it does not start from', () => {
    expect(stepCondition('skip', { readStatus: 'running' })).toBeUndefined();
    expect(stepCondition('cancel', { attempt: 1, readStatus: 'needs_qa' })).toBeUndefined();
  });

  it('checks in memory exactly what the condition says', () => {
    const cases: [StepTransitionName, object, Record<string, unknown>, boolean][] = [
      ['complete', running, { attempt: 2 }, true],
      ['complete', running, { attempt: 1 }, false],
      ['takeover', running, { attempt: 2, now: '2026-11-30T12:00:11.000Z' }, true],
      ['takeover', running, { attempt: 2, now: '2026-11-30T12:00:09.000Z' }, false],
      ['heartbeat', { ...running, waitingFor: 'callback' }, { attempt: 2, now: '2026-11-30T12:00:09.000Z' }, true],
      ['heartbeat', running, { attempt: 2, now: '2026-11-30T12:00:09.000Z' }, false],
      ['release', { status: 'pending', attempt: 0, releasedBy: ['a'] }, { parentId: 'a' }, false],
      ['release', { status: 'pending', attempt: 0, releasedBy: ['a'] }, { parentId: 'b' }, true],
      ['skip', { status: 'queued', attempt: 0 }, { readStatus: 'pending' }, false],
      ['claimReleased', { status: 'pending', attempt: 0, remaining: 1 }, { attempt: 0 }, true],
      ['claimReleased', { status: 'pending', attempt: 0, remaining: 1, releasedBy: ['a'] }, { attempt: 0 }, false],
      ['claimReleased', { status: 'pending', attempt: 0, remaining: 2 }, { attempt: 0 }, false],
      ['claimReleased', { status: 'queued', attempt: 0, remaining: 0 }, { attempt: 0 }, false],
      ['approve', { status: 'needs_qa', attempt: 1 }, {}, true],
      ['approve', running, {}, false],
    ];
    for (const [name, step, given, holds] of cases) expect(stepGuardHolds(name, step as typeof running, given), `${name} ${JSON.stringify(given)}`).toBe(holds);
  });
});
