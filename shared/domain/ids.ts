import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** Time-ordered, URL-safe ids (ULIDs) with a readable prefix per kind of object. */
export const newId = (kind: 'prj' | 'tok' | 'evt' | 'run' | 'wf' | 'sch'): string => `${kind}_${nextUlid().toLowerCase()}`;

/** Event ids stay bare ULIDs: they sort the event history in the table. */
export const newEventId = (): string => nextUlid();
