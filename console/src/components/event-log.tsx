import { useState } from 'react';
import { Link } from 'wouter';
import type { RunEvent } from '../api';
import { Actor } from './actor';
import { formatTime } from './format';

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
    <tr data-event-id={event.id} data-event-type={event.type}>
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
        <EventDetail detail={event.detail} />
      </td>
    </tr>
  );
}

/** An event's detail as JSON, with a person's comment first in plain words. */
function EventDetail({ detail }: { detail: RunEvent['detail'] }) {
  const { comment, ...rest } = detail;
  return (
    <>
      {typeof comment === 'string' && <q className="comment">{comment}</q>} {Object.keys(rest).length ? <span className="mono">{JSON.stringify(rest)}</span> : ''}
    </>
  );
}
