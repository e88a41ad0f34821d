import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sleep } from '#sdk';

describe('sleep', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('resolves after the time given, and leaves no listener on the signal', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    let done = false;
    const waiting = sleep(1_000, controller.signal).then(() => (done = true));

    await vi.advanceTimersByTimeAsync(999);
    const early = done;
    await vi.advanceTimersByTimeAsync(1);
    await waiting;

    expect(early).toBe(false);
    expect(done).toBe(true);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });

  it('rejects with the reason as soon as the signal aborts, and at once when it already has', async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort(new Error('interrupted'));

    await expect(waiting).rejects.toThrow('interrupted');
    await expect(sleep(10, AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
    expect(vi.getTimerCount()).toBe(0);
  });
});
