import { encodeTime, monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** Time-ordered, URL-safe ids (ULIDs) with a readable prefix per kind of object. */
/** `at` (ms): the time the id starts with, when it must agree with a recorded time (a run's createdAt). */
export const newId = (kind: 'prj' | 'tok' | 'evt' | 'run' | 'wf' | 'sch' | 'fbk' | 'trg', at?: number): string => `${kind}_${nextUlid(at).toLowerCase()}`;

/** Event ids stay bare ULIDs: they sort the event history in the table. */
export const newEventId = (): string => nextUlid();

/**
 * The ids of a kind made within [from, to] (milliseconds) form one key range, since a ULID
 * starts with its time: the lowest and highest id of that range, for a BETWEEN on the id.
 */
export const idRange = (kind: 'run', from: number | undefined, to: number | undefined): { low?: string; high?: string } => ({
  ...(from !== undefined ? { low: `${kind}_${encodeTime(Math.max(0, from), 10).toLowerCase()}${'0'.repeat(16)}` } : {}),
  ...(to !== undefined ? { high: `${kind}_${encodeTime(Math.max(0, to), 10).toLowerCase()}${'z'.repeat(16)}` } : {}),
});
