import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { MapChildrenPage, RunDetail, StepDetail, StepSummary } from '../api';
import { can, useSession } from '../context';
import { backoff } from '../polling';
import { CursorPager, useCursorPages } from './cursor-pager';
import { ErrorText } from './error-text';
import { errorText, formatDuration } from './format';
import { StatusBadge } from './status';

/** A map's child is a step of the run with the id `<map id>[<index, 6 digits>]` (README "Map steps"). */
const childId = /^(.+)\[(\d{6})\]$/;

/** The map a step id belongs to as a child, if it is one of `maps`. */
export const mapOfChild = (stepId: string, maps: ReadonlySet<string>): string | undefined => {
  const match = childId.exec(stepId);
  return match && maps.has(match[1]!) ? match[1] : undefined;
};

type Counts = MapChildrenPage['counts'];

/** `148 of 200 done: 146 succeeded, 2 failed, 52 queued or running` */
export const countsText = (counts: Counts): string =>
  `${counts.done} of ${counts.count} done: ${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.count - counts.done} queued or running${counts.round && counts.round > 1 ? ` (round ${counts.round})` : ''}`;

function ProgressBar({ counts }: { counts: Counts }) {
  const percent = (value: number) => (counts.count ? (value * 100) / counts.count : 0);
  return (
    <span className="map-bar" aria-hidden="true">
      <span className="map-bar-ok" style={{ width: `${percent(counts.succeeded)}%` }} />
      <span className="map-bar-failed" style={{ width: `${percent(counts.failed)}%` }} />
    </span>
  );
}

/** One map's counts, read from its children listing (one child per read: the counts come with it). */
function useMapCounts(runId: string, stepId: string, live: boolean) {
  const { api } = useSession();
  return useQuery({
    queryKey: ['map-counts', runId, stepId],
    queryFn: async () => (await api.listStepChildren(runId, stepId, { limit: 1 })).counts,
    refetchInterval: live ? backoff<Counts>((counts) => counts.count > 0 && counts.done === counts.count) : false,
  });
}

function MapLine({ runId, step, live, onSelect }: { runId: string; step: StepSummary; live: boolean; onSelect: (stepId: string) => void }) {
  const counts = useMapCounts(runId, step.id, live && step.status === 'running');
  return (
    <li data-testid="map-progress" data-step-id={step.id}>
      <button type="button" className="link mono" onClick={() => onSelect(step.id)}>
        {step.id}
      </button>{' '}
      <StatusBadge status={step.status} />{' '}
      {counts.data ? (
        <>
          <ProgressBar counts={counts.data} /> <span data-testid="map-counts">{countsText(counts.data)}</span>
        </>
      ) : (
        <span className="muted">{step.status === 'pending' ? 'waiting for its dependencies' : 'reading…'}</span>
      )}
    </li>
  );
}

/** Every map step of the run with its progress (count, done, succeeded, failed, still running), above the graph. */
export function MapProgress({ runId, steps, live, onSelect }: { runId: string; steps: readonly StepSummary[]; live: boolean; onSelect: (stepId: string) => void }) {
  const maps = steps.filter((step) => step.kind === 'map' && step.status !== 'pending');
  if (maps.length === 0) return null;
  return (
    <ul className="map-progress small">
      {maps.map((step) => (
        <MapLine key={step.id} runId={runId} step={step} live={live} onSelect={onSelect} />
      ))}
    </ul>
  );
}

/** `2 of 30 items failed (6.67%), more than the 0% tolerated` out of the map's error (its results URL is in the drawer). */
const toleranceText = (message: string): string => message.replace(/; results: \S+$/, '');

/** The map steps over their tolerance that block the run (none unless it is blocked). */
export const mapsBlocking = (run: RunDetail, steps: readonly StepSummary[]): StepSummary[] =>
  run.status === 'blocked' ? steps.filter((step) => step.kind === 'map' && step.status === 'failed' && step.error?.code === 'MAP_TOLERANCE_EXCEEDED' && run.failedSteps?.includes(step.id)) : [];

/**
 * A map that failed over its tolerance blocks the run (MAP_TOLERANCE_EXCEEDED): said at the top of
 * the run's page with what retry does (runs the failed items only), and the button for editors.
 */
export function MapBlocked({ run, steps }: { run: RunDetail; steps: readonly StepSummary[] }) {
  const { api, role } = useSession();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const blocking = mapsBlocking(run, steps);
  if (blocking.length === 0) return null;
  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.retryRun(run.id, {});
      await Promise.all(['run', 'steps', 'map-counts', 'map-children', 'step'].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="reason" data-testid="map-blocked">
      {blocking.map((step) => (
        <p key={step.id}>
          <span className="reason-code mono">MAP_TOLERANCE_EXCEEDED</span> The map step <span className="mono">{step.id}</span> blocked the run: {toleranceText(step.error?.message ?? '')}
        </p>
      ))}
      <p className="muted small">{can(role, 'editor') ? 'Retry runs the failed items only, as a new round; the map then completes or fails on the whole.' : 'An editor can retry the failed items.'}</p>
      {can(role, 'editor') && (
        <button type="button" disabled={busy} onClick={() => void retry()}>
          Retry the failed items
        </button>
      )}
      <ErrorText error={error} />
    </div>
  );
}

const pageSize = 25;

/**
 * A map step's children in the step drawer: its counts, a page of children (item index, status,
 * attempt, error) with Previous / Next through the API's cursors, and where its results are.
 */
export function MapChildren({ runId, step, live }: { runId: string; step: StepDetail; live: boolean }) {
  const { api } = useSession();
  const pages = useCursorPages(pageSize);
  const { cursor } = pages;
  const page = useQuery({
    queryKey: ['map-children', runId, step.id, cursor ?? ''],
    queryFn: () => api.listStepChildren(runId, step.id, { limit: pageSize, ...(cursor ? { cursor } : {}) }),
    refetchInterval: live ? backoff<MapChildrenPage>((data) => data.counts.count > 0 && data.counts.done === data.counts.count) : false,
  });
  // A map over its tolerance failed: its results are written all the same, named in its error.
  const resultsUrl = (step.output as { resultsUrl?: string } | undefined)?.resultsUrl ?? /results: (s3:\/\/\S+)/.exec(step.error?.message ?? '')?.[1];
  const first = pages.offset;
  return (
    <section data-testid="map-children">
      <h3>Children</h3>
      <ErrorText error={page.error} />
      {page.data && (
        <>
          <p className="small">
            <ProgressBar counts={page.data.counts} /> <span data-testid="map-children-counts">{countsText(page.data.counts)}</span>
          </p>
          {page.data.items.length === 0 ? (
            <p className="muted">No children yet.</p>
          ) : (
            <table className="small">
              <thead>
                <tr>
                  <th>item</th>
                  <th>status</th>
                  <th>attempt</th>
                  <th>took</th>
                  <th>error</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((child) => (
                  <tr key={child.id} data-index={child.index} data-status={child.status}>
                    <td className="mono">{child.index}</td>
                    <td>
                      <StatusBadge status={child.status} />
                    </td>
                    <td>{child.attempt}</td>
                    <td className="nowrap">{child.startedAt ? formatDuration(child.startedAt, child.finishedAt) : '—'}</td>
                    <td className={`child-error${child.status === 'completed' ? ' muted' : ''}`}>
                      {/* A child that completed on a later attempt keeps its earlier error: said as past. */}
                      {child.error ? `${child.status === 'completed' ? `attempt ${child.error.attempt} failed: ` : ''}${child.error.code ? `${child.error.code}: ` : ''}${child.error.message}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <CursorPager pages={pages} nextCursor={page.data.cursor}>
            <span data-testid="map-children-range">
              items {page.data.items.length ? `${first}–${first + page.data.items.length - 1}` : '—'} of {page.data.counts.count}
            </span>
          </CursorPager>
        </>
      )}
      {resultsUrl && (
        <p className="small" data-testid="map-results">
          {/* An s3:// address: no browser opens it, so it is shown to copy, not as a link. */}
          Results (JSON Lines, in item order): <span className="mono">{resultsUrl}</span>
          <br />
          <span className="muted mono">aws s3 cp {resultsUrl} -</span>
        </p>
      )}
    </section>
  );
}
