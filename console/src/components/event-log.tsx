import { useState } from 'react';
import type { RunEvent } from '../api';
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
        <thead>
          <tr>
            <th>time</th>
            <th>event</th>
            <th>step</th>
            <th>by</th>
            <th>detail</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.slice(0, shown).map((event) => (
            <tr key={event.id} data-event-type={event.type}>
              <td className="nowrap">{formatTime(event.at)}</td>
              <td className="mono">{event.type}</td>
              <td>
                {event.stepId &&
                  (onSelectStep ? (
                    <button type="button" className="link mono" onClick={() => onSelectStep(event.stepId!)}>
                      {event.stepId}
                    </button>
                  ) : (
                    <span className="mono">{event.stepId}</span>
                  ))}
              </td>
              <td className="mono small">{event.actor}</td>
              <td className="small detail">
                <EventDetail detail={event.detail} />
              </td>
            </tr>
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

/** An event's detail as JSON, with a person's comment first in plain words. */
export function EventDetail({ detail }: { detail: RunEvent['detail'] }) {
  const { comment, ...rest } = detail;
  return (
    <>
      {typeof comment === 'string' && <q className="comment">{comment}</q>} {Object.keys(rest).length ? <span className="mono">{JSON.stringify(rest)}</span> : ''}
    </>
  );
}
