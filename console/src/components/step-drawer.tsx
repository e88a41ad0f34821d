import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import type { RunEvent, RunStatus, StepDetail } from '../api';
import { can, useSession } from '../context';
import { backoff } from '../polling';
import { ErrorText } from './error-text';
import { errorText, formatDuration, formatTime, pretty } from './format';
import { Actor } from './actor';
import { RerunForm } from './rerun-form';
import { StatusBadge } from './status';
import { GateBox } from './quality-gate';
import { ThrottleNote } from './throttle';
import { StepFeedback } from './step-feedback';
import { LoopIterations } from './loop-iterations';
import { MapChildren } from './map-step';
import { attemptsByStep, type Attempt } from './timeline';

const settled = (step: StepDetail) => ['completed', 'failed', 'cancelled', 'skipped'].includes(step.status);

/**
 * Kinds whose attempt count tells a person nothing: a gate waits for someone or something
 * (approval, webhook), noop and wait complete at once. Their attempts are shown only once one
 * was actually repeated (a person's retry, a takeover); the kinds that call out show them always.
 */
const kindsWithoutAttempts = ['approval', 'webhook', 'noop', 'wait'];
export const attemptsMatter = (step: Pick<StepDetail, 'kind' | 'attempt'>): boolean => step.attempt > 1 || (step.attempt > 0 && !kindsWithoutAttempts.includes(step.kind));

/** One step in detail: input, output, error, attempts, usage, artifacts, and approve/reject when it waits. */
export function StepDrawer({
  runId,
  stepId,
  events,
  runFinal,
  runStatus,
  onFork,
  onClose,
}: {
  runId: string;
  stepId: string;
  events: RunEvent[];
  runFinal: boolean;
  runStatus: RunStatus;
  /** Opens the run's fork form at this step (editors). */
  onFork?: (stepId: string) => void;
  onClose: () => void;
}) {
  const { api, role } = useSession();
  const step = useQuery({
    queryKey: ['step', runId, stepId],
    queryFn: () => api.getStep(runId, stepId),
    refetchInterval: runFinal ? false : backoff<StepDetail>(settled),
  });
  const attempts = attemptsByStep(events).get(stepId) ?? [];
  const data = step.data;
  // Who commented and when is in the decision's event; the step holds the comment itself.
  const decision = events.findLast((event) => event.stepId === stepId && typeof event.detail.comment === 'string');
  return (
    <aside className="drawer" aria-label={`Step ${stepId}`} data-testid="step-drawer">
      <header>
        <h2 className="mono">{stepId}</h2>
        <button type="button" className="link" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </header>
      <ErrorText error={step.error} />
      {data && (
        <>
          <p>
            <StatusBadge status={data.status} /> {data.kind}
            {attemptsMatter(data) && (
              <span data-testid="step-attempt">
                {' '}
                · attempt {data.attempt} of {data.allowedAttempts}
              </span>
            )}
            {data.generation > 1 && <span data-testid="step-generation"> · generation {data.generation}</span>}
          </p>
          <ThrottleNote step={data} now={Date.now()} />
          <GateBox runId={runId} step={data} runStatus={runStatus} decision={<Decision runId={runId} stepId={stepId} />} />
          {data.plannedBy && (
            <p className="muted small" data-testid="step-planned-by">
              Added to the run by the planner step <span className="mono">{data.plannedBy}</span>.
            </p>
          )}
          {data.kind === 'workflow' && (
            <p className="small" data-testid="step-child-run">
              {data.childRun ? (
                <>
                  Child run{' '}
                  <Link href={`/runs/${data.childRun.runId}`} className="mono">
                    {data.childRun.runId}
                  </Link>
                  {data.status === 'running' ? ': this step waits for it.' : '.'}
                </>
              ) : (
                <span className="muted">No child run started yet.</span>
              )}
            </p>
          )}
          {data.reusedFrom && (
            <p className="muted small" data-testid="step-reused">
              Reused: the output of run{' '}
              <Link href={`/runs/${data.reusedFrom.runId}`} className="mono">
                {data.reusedFrom.runId}
              </Link>{' '}
              (generation {data.reusedFrom.generation}); it did not run here.
            </p>
          )}
          {data.guidance && (
            <blockquote className="comment" data-testid="step-guidance">
              {data.guidance}
              <div className="muted small">guidance of the re-run</div>
            </blockquote>
          )}
          {data.status === 'needs_qa' && !data.gate && <Decision runId={runId} stepId={stepId} />}
          {data.comment && (
            <blockquote className="comment" data-testid="step-comment">
              {data.comment}
              {decision && decision.detail.comment === data.comment && (
                <div className="muted small">
                  {decision.type === 'step.failed' ? 'rejected' : 'approved'} by <Actor actor={decision.actor} name={decision.actorName} />, {formatTime(decision.at)}
                </div>
              )}
            </blockquote>
          )}
          {data.error && (
            // A step that completed after a failed attempt (a retry, a map's retried items) keeps that error: said as past.
            <div className={`error-box${data.status === 'completed' ? ' past' : ''}`} data-testid="step-error">
              {data.status === 'completed' && <span className="muted">An earlier attempt failed: </span>}
              <strong>{data.error.code ?? 'error'}</strong>: {data.error.message}
              {data.error.url && (
                <>
                  {' '}
                  (<a href={data.error.url} target="_blank" rel="noreferrer noopener">link</a>)
                </>
              )}
              <div className="muted small">
                {attemptsMatter(data) && `attempt ${data.error.attempt}, `}
                {formatTime(data.error.at)}, {data.error.retryable ? 'retryable' : 'not retryable'}
              </div>
            </div>
          )}
          <div className="actions">
            {/* A step held at its gate is re-run from the gate box. */}
            {data.status !== 'needs_qa' && <RerunForm runId={runId} step={data} runStatus={runStatus} />}
            {onFork && can(role, 'editor') && (
              <button type="button" onClick={() => onFork(stepId)}>
                Fork from here…
              </button>
            )}
          </div>
          {data.kind === 'map' && <MapChildren runId={runId} step={data} live={!runFinal} />}
          <LoopIterations step={data} events={events} />
          <StepFeedback runId={runId} step={data} />
          <h3>Input</h3>
          <pre>{pretty(data.input)}</pre>
          <h3>Output</h3>
          {data.outputUrl ? (
            <a href={data.outputUrl} target="_blank" rel="noreferrer noopener">
              Download the output (kept in S3)
            </a>
          ) : (
            <pre data-testid="step-output">{pretty(data.output)}</pre>
          )}
          {attemptsMatter(data) && <Attempts attempts={attempts} />}
          <h3>Artifacts</h3>
          {data.artifacts.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul>
              {data.artifacts.map((artifact) => (
                <li key={artifact.name}>
                  <a href={artifact.url} download={artifact.name} rel="noreferrer noopener">
                    {artifact.name}
                  </a>{' '}
                  <span className="muted small">
                    {artifact.contentType}, {artifact.size} bytes
                  </span>
                </li>
              ))}
            </ul>
          )}
          <h3>Usage</h3>
          <pre className="small">{pretty(data.usage)}</pre>
          <p className="muted small">
            depends on {data.dependsOn.join(', ') || 'nothing'} · dependents {data.dependents.join(', ') || 'none'}
          </p>
        </>
      )}
    </aside>
  );
}

/** Each attempt of the step: when it started, how long it took, how it ended. */
function Attempts({ attempts }: { attempts: Attempt[] }) {
  return (
    <>
      <h3>Attempts</h3>
      {attempts.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <table className="small" data-testid="step-attempts">
          <tbody>
            {attempts.map((attempt) => (
              <tr key={attempt.start}>
                <td>#{attempt.attempt}</td>
                <td>{formatTime(new Date(attempt.start).toISOString())}</td>
                <td>{formatDuration(new Date(attempt.start).toISOString(), attempt.end ? new Date(attempt.end).toISOString() : undefined)}</td>
                <td>
                  <StatusBadge status={attempt.outcome} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** Approve or reject a step waiting for a person, with a comment. Shown only to editors and admins. */
export function Decision({ runId, stepId, onDecided }: { runId: string; stepId: string; onDecided?: () => void }) {
  const { api, role } = useSession();
  const queryClient = useQueryClient();
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!can(role, 'editor')) return <p className="muted small">Waiting for an editor to approve or reject.</p>;
  const decide = async (action: 'approve' | 'reject') => {
    setBusy(true);
    setError(null);
    try {
      await api.stepAction(runId, stepId, action, comment.trim());
      await Promise.all(['run', 'steps', 'step', 'inbox', 'events'].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
      onDecided?.();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="decision" data-testid="decision">
      <label>
        Comment
        <textarea name="comment" rows={2} value={comment} onChange={(event) => setComment(event.target.value)} maxLength={1000} />
      </label>
      <div className="actions">
        <button type="button" disabled={busy} onClick={() => void decide('approve')}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => void decide('reject')}>
          Reject
        </button>
      </div>
      <ErrorText error={error} />
    </div>
  );
}
