import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { runStatuses, type RunQuery, type RunStatus } from '../api';
import { ErrorText } from '../components/error-text';
import { formatDuration, formatTime } from '../components/format';
import { StatusBadge } from '../components/status';
import { useSession } from '../context';
import { backoff } from '../polling';

interface Filters {
  status: RunStatus | '';
  workflowId: string;
  tag: string;
  from: string;
  to: string;
}

const emptyFilters: Filters = { status: '', workflowId: '', tag: '', from: '', to: '' };

/** `k=v` (or `k:v`) → the API's `tag=k:v`; anything else is no tag filter. */
const tagQuery = (text: string): string | undefined => {
  const match = /^\s*([^=:\s]+)\s*[=:]\s*(.*?)\s*$/.exec(text);
  return match && match[2] ? `${match[1]}:${match[2]}` : undefined;
};

/** A datetime-local value (the browser's local time) as an ISO instant. */
const instant = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

/** What the filters ask the API for (it filters; the page shows what it answers). */
const runQuery = (filters: Filters): Omit<RunQuery, 'limit' | 'cursor'> => {
  const tag = tagQuery(filters.tag);
  const from = instant(filters.from);
  const to = instant(filters.to);
  return {
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.workflowId ? { workflowId: filters.workflowId } : {}),
    ...(tag ? { tag } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
  };
};

/** The project's runs, newest first: filters, counts by status, live status. */
export function RunsPage() {
  const { api, projectId } = useSession();
  const [draft, setDraft] = useState<Filters>(emptyFilters);
  const [filters, setFilters] = useState<Filters>(emptyFilters);

  const runs = useInfiniteQuery({
    queryKey: ['runs', projectId, runQuery(filters)],
    queryFn: ({ pageParam }) => api.listRuns(projectId, { limit: 50, ...runQuery(filters), ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.cursor,
    refetchInterval: backoff(),
  });

  const items = (runs.data?.pages ?? []).flatMap((page) => page.items);
  const counts = new Map<string, number>();
  for (const run of items) counts.set(run.status, (counts.get(run.status) ?? 0) + 1);

  return (
    <div>
      <h1>Runs</h1>
      <p className="muted small">
        <Link href="/metrics" data-testid="metrics-link">
          Prometheus metrics
        </Link>{' '}
        of this project (GET /v1/projects/{projectId}/metrics)
      </p>
      <form
        className="filters"
        aria-label="Filter runs"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters(draft);
        }}
      >
        <label>
          Status
          <select name="status" value={draft.status} onChange={(event) => setDraft({ ...draft, status: event.target.value as RunStatus | '' })}>
            <option value="">any</option>
            {runStatuses.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Workflow id
          <input name="workflowId" value={draft.workflowId} onChange={(event) => setDraft({ ...draft, workflowId: event.target.value.trim() })} placeholder="wf_…" />
        </label>
        <label>
          Tag
          <input name="tag" value={draft.tag} onChange={(event) => setDraft({ ...draft, tag: event.target.value })} placeholder="key=value" />
        </label>
        <label>
          From
          <input name="from" type="datetime-local" value={draft.from} onChange={(event) => setDraft({ ...draft, from: event.target.value })} />
        </label>
        <label>
          To
          <input name="to" type="datetime-local" value={draft.to} onChange={(event) => setDraft({ ...draft, to: event.target.value })} />
        </label>
        <button type="submit">Apply</button>
        <button
          type="button"
          className="link"
          onClick={() => {
            setDraft(emptyFilters);
            setFilters(emptyFilters);
          }}
        >
          Clear
        </button>
      </form>
      <ul className="counts" data-testid="run-counts" aria-label="Runs by status">
        {runStatuses
          .filter((status) => counts.get(status))
          .map((status) => (
            <li key={status} data-status={status}>
              <StatusBadge status={status} /> {counts.get(status)}
            </li>
          ))}
        <li className="muted small">{items.length} shown</li>
      </ul>
      <ErrorText error={runs.error} />
      <table className="runs" data-testid="runs">
        <thead>
          <tr>
            <th>run</th>
            <th>workflow</th>
            <th>status</th>
            <th>tags</th>
            <th>created</th>
            <th>took</th>
          </tr>
        </thead>
        <tbody>
          {items.map((run) => (
            <tr key={run.id} data-run-id={run.id} data-status={run.status}>
              <td>
                <Link href={`/runs/${run.id}`} className="mono">
                  {run.id}
                </Link>
              </td>
              <td>
                {run.workflowName} <span className="muted">v{run.workflowVersion}</span>
              </td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td>
                {Object.entries(run.tags ?? {}).map(([key, value]) => (
                  <span className="tag" key={key}>
                    {key}={value}
                  </span>
                ))}
              </td>
              <td className="nowrap">{formatTime(run.createdAt)}</td>
              <td>{formatDuration(run.startedAt ?? run.createdAt, run.finishedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.isPending && <p className="muted">Loading runs…</p>}
      {!runs.isPending && items.length === 0 && <p className="muted">No run matches.</p>}
      {runs.hasNextPage && (
        <button type="button" className="link" disabled={runs.isFetchingNextPage} onClick={() => void runs.fetchNextPage()}>
          Older runs
        </button>
      )}
    </div>
  );
}
