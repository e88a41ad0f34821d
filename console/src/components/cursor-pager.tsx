import { useState, type ReactNode } from 'react';

/**
 * Paging through one of the API's cursor listings (`limit` and `cursor`): the cursors of the
 * pages seen so far, so Previous goes back one page and Next follows the cursor the API gave.
 * `offset` is the position of the current page's first item (0-based).
 */
export function useCursorPages(pageSize: number) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors.at(-1),
    offset: (cursors.length - 1) * pageSize,
    hasPrevious: cursors.length > 1,
    previous: () => setCursors(cursors.slice(0, -1)),
    next: (cursor: string) => setCursors([...cursors, cursor]),
  };
}

/** Previous / Next around a label saying which items are shown; Next follows `nextCursor` when the API gave one. */
export function CursorPager({ pages, nextCursor, children }: { pages: ReturnType<typeof useCursorPages>; nextCursor: string | undefined; children: ReactNode }) {
  return (
    <p className="pager small">
      <button type="button" className="secondary" disabled={!pages.hasPrevious} onClick={pages.previous}>
        Previous
      </button>{' '}
      {children}{' '}
      <button type="button" className="secondary" disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        Next
      </button>
    </p>
  );
}
