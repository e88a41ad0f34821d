import { useQuery } from '@tanstack/react-query';
import type { RunDetail, StepSummary } from '../api';
import { backoff } from '../polling';
import { useSession } from '../context';
import { CursorPager, useCursorPages } from './cursor-pager';
import { ErrorText } from './error-text';
import { formatDuration } from './format';
import { StatusBadge } from './status';

/**
 * Over this many steps (the run's own, map children aside) the run's page lists its steps a page
 * at a time instead of drawing the graph and the timeline: laying out and drawing 10,000 nodes
 * would freeze the tab (README "The web console"). A year's daily plan (365 steps, console e2e)
 * is still drawn.
 */
export const graphLimit = 500;

const pageSize = 100;

/**
 * A big run's steps, one page of the API's listing at a time (`limit` and `cursor`), with
 * Previous / Next, its counts by status above it. Clicking a row opens the step's drawer.
 */
export function StepPages({ run, live, onSelect }: { run: RunDetail; live: boolean; onSelect: (stepId: string) => void }) {
  const { api } = useSession();
  const pages = useCursorPages(pageSize);
  const { cursor } = pages;
  const page = useQuery({
    queryKey: ['step-page', run.id, cursor ?? ''],
    queryFn: () => api.listStepsPage(run.id, { limit: pageSize, ...(cursor ? { cursor } : {}) }),
    refetchInterval: live ? backoff() : false,
  });
  const first = pages.offset + 1;
  return (
    <div data-testid="step-pages">
      <p className="muted small" data-testid="big-run-note">
        {run.steps.total.toLocaleString('en-US')} steps: too many to draw; listed {pageSize} at a time in step-id order (map children follow their map).
      </p>
      <ErrorText error={page.error} />
      {page.data && (
        <>
          <table className="small steps-table">
            <thead>
              <tr>
                <th>step</th>
                <th>kind</th>
                <th>status</th>
                <th>attempt</th>
                <th>depends on</th>
                <th>took</th>
                <th>error</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((step: StepSummary) => (
                <tr key={step.id} data-step-id={step.id} data-status={step.status} onClick={() => onSelect(step.id)} className="clickable">
                  <td className="mono">{step.id}</td>
                  <td>{step.kind}</td>
                  <td>
                    <StatusBadge status={step.status} />
                  </td>
                  <td>{step.attempt}</td>
                  <td className="mono">{step.dependsOn.length > 3 ? `${step.dependsOn.slice(0, 3).join(', ')} … (${step.dependsOn.length})` : step.dependsOn.join(', ')}</td>
                  <td>{step.startedAt ? formatDuration(step.startedAt, step.finishedAt) : '—'}</td>
                  <td>{step.error ? `${step.error.code ? `${step.error.code}: ` : ''}${step.error.message}` : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <CursorPager pages={pages} nextCursor={page.data.cursor}>
            <span data-testid="step-range">
              steps {page.data.items.length ? `${first.toLocaleString('en-US')}–${(first + page.data.items.length - 1).toLocaleString('en-US')}` : '—'}
            </span>
          </CursorPager>
        </>
      )}
    </div>
  );
}
