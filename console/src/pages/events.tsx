import { useInfiniteQuery } from '@tanstack/react-query';
import { ErrorText } from '../components/error-text';
import { EventHead, EventRow } from '../components/event-log';
import { useSession } from '../context';
import { backoff } from '../polling';

const pageSize = 50;

/**
 * The project's event feed (GET /v1/projects/{p}/events), newest first: the project's own events,
 * its runs' events and the step events a person acts on (every step event with publishStepEvents).
 */
export function EventsPage() {
  const { api, projectId } = useSession();
  const feed = useInfiniteQuery({
    queryKey: ['feed', projectId],
    queryFn: ({ pageParam }) => api.listProjectEvents(projectId, { limit: pageSize, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.cursor,
    // New events arrive on the first page; the older pages are re-read with it.
    refetchInterval: backoff(),
  });
  const items = (feed.data?.pages ?? []).flatMap((page) => page.items);

  return (
    <div>
      <h1>Events</h1>
      <p className="muted">What happened in the project, newest first: its runs, the steps waiting for a person, failed or asked to retry, workflows saved, tokens and settings changed. Every step's full history is on its run's page (every step event shows here too when the project publishes step events).</p>
      <ErrorText error={feed.error} />
      <div className="event-log feed">
        <table data-testid="feed">
          <EventHead withRun />
          <tbody>
            {items.map((event) => (
              <EventRow key={event.id} event={event} withRun />
            ))}
          </tbody>
        </table>
      </div>
      {feed.isPending && <p className="muted">Loading events…</p>}
      {!feed.isPending && !feed.isError && items.length === 0 && <p className="muted">No events yet.</p>}
      {feed.hasNextPage && (
        <button type="button" className="link" disabled={feed.isFetchingNextPage} onClick={() => void feed.fetchNextPage()}>
          Older events
        </button>
      )}
    </div>
  );
}
