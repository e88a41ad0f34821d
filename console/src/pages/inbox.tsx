import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import type { InboxItem } from '../api';
import { ErrorText } from '../components/error-text';
import { formatDuration, formatTime } from '../components/format';
import { Decision } from '../components/step-drawer';
import { useSession } from '../context';
import { backoff } from '../polling';

/** Steps waiting for a person across the project's runs, oldest first, each with approve/reject. */
export function InboxPage() {
  const { api, projectId } = useSession();
  const inbox = useQuery({ queryKey: ['inbox', projectId], queryFn: () => api.listInbox(projectId), refetchInterval: backoff<InboxItem[]>() });
  return (
    <div>
      <h1>Approval inbox</h1>
      <p className="muted">Steps waiting in needs_qa, oldest first.</p>
      <ErrorText error={inbox.error} />
      {inbox.data?.length === 0 && <p className="muted" data-testid="inbox-empty">Nothing is waiting for you.</p>}
      <ul className="inbox" data-testid="inbox">
        {inbox.data?.map((item) => (
          <li key={`${item.runId}/${item.stepId}`} className="card" data-run-id={item.runId} data-step-id={item.stepId}>
            <div className="inbox-head">
              <span>
                <Link href={`/runs/${item.runId}`} className="mono">
                  {item.runId}
                </Link>{' '}
                / <strong className="mono">{item.stepId}</strong> {item.workflowName && <span className="muted">({item.workflowName})</span>}
              </span>
              <span className="muted small">
                waiting since {formatTime(item.since)} ({formatDuration(item.since)}){item.deadline ? `, deadline ${formatTime(item.deadline)}` : ''}
              </span>
            </div>
            <p className="prompt">{item.prompt ?? item.waitingFor}</p>
            <Decision runId={item.runId} stepId={item.stepId} />
          </li>
        ))}
      </ul>
    </div>
  );
}
