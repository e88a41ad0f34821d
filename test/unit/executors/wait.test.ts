import { describe, expect, it } from 'vitest';
import { waitInput, waitNotBefore } from '#shared/executors/wait';

describe('wait steps', () => {
  const releasedAt = new Date('2027-03-01T10:00:00Z');

  it('is due a number of seconds after its release, or at a given instant', () => {
    expect(waitNotBefore({ seconds: 90 }, releasedAt)).toBe('2027-03-01T10:01:30.000Z');
    expect(waitNotBefore({ until: '2027-03-02T08:00:00+02:00' }, releasedAt)).toBe('2027-03-02T06:00:00.000Z');
  });

  it('takes exactly one of seconds or until', () => {
    expect(waitInput.safeParse({}).success).toBe(false);
    expect(waitInput.safeParse({ seconds: 5, until: '2027-03-02T08:00:00Z' }).success).toBe(false);
    expect(waitInput.safeParse({ seconds: 0 }).success).toBe(false);
    expect(waitNotBefore({ minutes: 5 }, releasedAt)).toBeUndefined();
  });
});
