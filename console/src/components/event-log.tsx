import { useState } from 'react';
import { Link } from 'wouter';
import type { RunEvent } from '../api';
import { Actor } from './actor';
import { formatTime } from './format';
import { PlannedSummary } from './planned';

const pageSize = 100;

/** The run's history, newest first, a hundred at a time. */
export function EventLog({ events, onSelectStep }: { events: RunEvent[]; onSelectStep?: (stepId: string) => void }) {
  const [shown, setShown] = useState(pageSize);
  const newestFirst = [...events].reverse();
  if (events.length === 0) return <p className="muted">No events yet.</p>;
  return (
    <div className="event-log">
      <table data-testid="event-log">
        <EventHead />
        <tbody>
          {newestFirst.slice(0, shown).map((event) => (
            <EventRow key={event.id} event={event} {...(onSelectStep ? { onSelectStep } : {})} />
          ))}
        </tbody>
      </table>
      {newestFirst.length > shown && (
        <button type="button" className="link" onClick={() => setShown(shown + pageSize)}>
          Show {Math.min(pageSize, newestFirst.length - shown)} older events
        </button>
      )}
    </div>
  );
}

/** The columns of an event table (the run's log, the project's feed); `withRun` for events of several runs. */
export function EventHead({ withRun = false }: { withRun?: boolean }) {
  return (
    <thead>
      <tr>
        <th>time</th>
        <th>event</th>
        {withRun && <th>run</th>}
        <th>step</th>
        <th>by</th>
        <th>detail</th>
      </tr>
    </thead>
  );
}

/**
 * One event, the same in the run's log and the project's feed: when, what, (which run,) which
 * step (a button that opens it where the page can), who, and the detail.
 */
export function EventRow({ event, withRun = false, onSelectStep }: { event: RunEvent; withRun?: boolean; onSelectStep?: (stepId: string) => void }) {
  const { stepId } = event;
  return (
    <tr data-event-id={event.id} data-event-type={event.type} className={event.type === 'feedback.critical' ? 'critical-row' : undefined}>
      <td className="nowrap">{formatTime(event.at)}</td>
      <td className="mono">{event.type}</td>
      {withRun && (
        <td>
          {event.runId && (
            <Link href={`/runs/${event.runId}`} className="mono small">
              {event.runId}
            </Link>
          )}
        </td>
      )}
      <td>
        {stepId &&
          (onSelectStep ? (
            <button type="button" className="link mono" onClick={() => onSelectStep(stepId)}>
              {stepId}
            </button>
          ) : (
            <span className="mono">{stepId}</span>
          ))}
      </td>
      <td className="small">
        <Actor actor={event.actor} name={event.actorName} />
      </td>
      <td className="small detail">
        <EventDetail event={event} />
      </td>
    </tr>
  );
}

/**
 * An event's detail: a one-line summary (a person's comment first in plain words; a
 * `feedback.critical` as the verdict it is) that opens, on click, into the whole detail as JSON.
 */
function EventDetail({ event }: { event: RunEvent }) {
  const [open, setOpen] = useState(false);
  const { detail } = event;
  const { comment, ...rest } = detail;
  if (Object.keys(detail).length === 0) return null;
  return (
    <div className={`event-detail${open ? ' open' : ''}`}>
      <button type="button" className="link expander" aria-expanded={open} aria-label={open ? 'Hide the detail' : 'Show the whole detail'} onClick={() => setOpen(!open)}>
        {open ? '\u25be' : '\u25b8'}
      </button>
      {event.type === 'feedback.critical' ? (
        <CriticalFeedback event={event} />
      ) : event.type === 'run.planned' ? (
        <PlannedSummary event={event} />
      ) : (
        <span className="summary" onClick={() => setOpen(!open)}>
          {typeof comment === 'string' && <q className="comment">{comment}</q>} {Object.keys(rest).length ? <span className="mono">{JSON.stringify(rest)}</span> : ''}
        </span>
      )}
      {open && (
        <pre className="event-json" data-testid="event-json">
          {JSON.stringify(detail, null, 2)}
        </pre>
      )}
    </div>
  );
}

/** What onBelow did with a score below the threshold (the event's `verdict`). */
const verdicts: Record<string, string> = {
  pause: 'paused for a person',
  retry: 'running again with the comment',
  fail: 'failed the step',
};

/** A quality gate's score below its threshold (issue 12 §2): score against threshold, the step, what happened, the reviewer's comment. */
function CriticalFeedback({ event }: { event: RunEvent }) {
  const detail = event.detail as { score?: number; threshold?: number; comment?: string; verdict?: string; generation?: number };
  return (
    <span className="critical" data-testid="feedback-critical">
      <span className="score" data-score-band="low">
        {detail.score ?? '?'}
      </span>{' '}
      below the threshold of <strong>{detail.threshold ?? '?'}</strong> on step <span className="mono">{event.stepId}</span>
      {detail.generation !== undefined && detail.generation > 1 && ` (generation ${detail.generation})`}
      {detail.verdict && <>: {verdicts[detail.verdict] ?? detail.verdict}</>}
      {typeof detail.comment === 'string' && (
        <>
          {' '}
          <q className="comment">{detail.comment}</q>
        </>
      )}
    </span>
  );
}
