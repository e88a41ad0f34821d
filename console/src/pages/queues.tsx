import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import type { QueueStats } from '../api';
import { ErrorText } from '../components/error-text';
import { errorText, formatElapsed, formatTime } from '../components/format';
import { useSession } from '../context';
import { backoff } from '../polling';

/**
 * The installation's queues (installation token only, README "Operating Baton"): each queue's
 * depths and oldest age, a peek at a dead-letter queue's messages (run, step, attempt, error;
 * nothing consumed), and Redrive, which moves them back to the queue they came from.
 */
export function QueuesPage() {
  const { api } = useSession();
  const queues = useQuery({ queryKey: ['queues'], queryFn: () => api.listQueues(), refetchInterval: backoff<QueueStats[]>() });
  const [peeking, setPeeking] = useState<string | null>(null);
  return (
    <div>
      <h1>Queues</h1>
      <p className="muted">The installation&apos;s queues, dead-letter queues included. Counts are SQS&apos;s approximate numbers.</p>
      <ErrorText error={queues.error} />
      {queues.data && (
        <table data-testid="queues">
          <thead>
            <tr>
              <th>queue</th>
              <th>what it holds</th>
              <th>visible</th>
              <th>in flight</th>
              <th>delayed</th>
              <th>oldest</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {queues.data.map((queue) => (
              <tr key={queue.name} data-queue={queue.name}>
                <td className="mono">
                  {queue.name} {queue.deadLetter && <span className="tag">dead letters</span>}
                </td>
                <td className="small">{queue.purpose}</td>
                <td data-testid="queue-visible">{queue.visible}</td>
                <td>{queue.inFlight}</td>
                <td>{queue.delayed}</td>
                <td>{queue.oldestAgeSeconds === null ? <span className="muted small">not sampled</span> : queue.visible + queue.inFlight ? formatElapsed(queue.oldestAgeSeconds * 1000) : '—'}</td>
                <td>
                  <div className="actions">
                    {queue.peekable && (
                      <button type="button" className="secondary" onClick={() => setPeeking(peeking === queue.name ? null : queue.name)}>
                        {peeking === queue.name ? 'Hide' : 'Peek'}
                      </button>
                    )}
                    {queue.redriveTo && <RedriveButton queue={queue} />}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {peeking && <Peek key={peeking} name={peeking} />}
    </div>
  );
}

/** Redrive with a confirmation naming how many messages go where; the result in words. */
function RedriveButton({ queue }: { queue: QueueStats }) {
  const { api } = useSession();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const redrive = async () => {
    if (!window.confirm(`Move the ${queue.visible} dead letter${queue.visible === 1 ? '' : 's'} of ${queue.name} back to ${queue.redriveTo}? Their steps run again.`)) return;
    setBusy(true);
    setError(null);
    try {
      const done = await api.redriveQueue(queue.name);
      setResult(done.method === 'emulator-copy' ? `Moved ${done.moved ?? 0} to ${done.destination}.` : `SQS is moving them to ${done.destination} (task ${done.taskHandle ?? '…'}).`);
      await Promise.all(['queues', 'queue-peek'].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className="danger" disabled={busy || queue.visible === 0} onClick={() => void redrive()}>
        Redrive to {queue.redriveTo}
      </button>
      {result && (
        <span className="small ok" role="status">
          {' '}
          {result}
        </span>
      )}
      <ErrorText error={error} />
    </>
  );
}

/** Up to 10 messages of a dead-letter queue, left in it: each links to its run. */
function Peek({ name }: { name: string }) {
  const { api } = useSession();
  // Read once when opened (and after a redrive): every peek adds 1 to each message's receive count.
  const peek = useQuery({ queryKey: ['queue-peek', name], queryFn: () => api.peekQueue(name), refetchInterval: false, refetchOnWindowFocus: false });
  return (
    <section data-testid="queue-peek">
      <h2>
        Dead letters in <span className="mono">{name}</span>
      </h2>
      <ErrorText error={peek.error} />
      {peek.data && (
        <>
          <p className="muted small">{peek.data.peek}</p>
          {peek.data.messages.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <table className="small">
              <thead>
                <tr>
                  <th>sent</th>
                  <th>run</th>
                  <th>step</th>
                  <th title="A message starts the attempt after this count; takeovers of a crashed worker's attempt redeliver it unchanged">sent for attempt</th>
                  <th>error</th>
                  <th>received</th>
                </tr>
              </thead>
              <tbody>
                {peek.data.messages.map((message) => (
                  <tr key={message.messageId} data-message-id={message.messageId}>
                    <td>{formatTime(message.sentAt)}</td>
                    <td>
                      {message.runId ? (
                        <Link href={`/runs/${message.runId}`} className="mono">
                          {message.runId}
                        </Link>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="mono">{message.stepId ?? message.event?.type ?? '—'}</td>
                    <td>{message.attempt === undefined ? '—' : message.attempt + 1}</td>
                    <td>{message.error ? `${message.error.code ? `${message.error.code}: ` : ''}${message.error.message}` : ''}</td>
                    <td>{message.receiveCount}×</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
