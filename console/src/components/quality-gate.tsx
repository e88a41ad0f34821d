import type { ReactNode } from 'react';
import type { RunStatus, StepDetail, StepSummary } from '../api';
import { can, useSession } from '../context';
import { RerunForm } from './rerun-form';
import { ScoreForm, waitsForScore } from './step-feedback';
import { StatusBadge } from './status';

/** A gate's state as a sentence (gate.state: README "Quality gates"). */
const states: Record<string, string> = {
  reviewing: 'the reviewer is scoring the output',
  waiting: 'waits for a person to score it, approve it or reject it',
  paused: 'scored below the threshold: waits for a person to approve it, reject it or re-run it with guidance',
  retrying: 'running again with the reviewer\u2019s comment',
};

/**
 * A step's quality gate (issue 12 §2) as one box: the policy (reviewer, threshold, what happens
 * below it, retries), where the review is, the latest score and comment, and, while it waits for a
 * person, everything that person can do there: score it (a human reviewer's gate: the score
 * decides), approve or reject it (`decision`, the drawer's approve/reject form), or re-run it with
 * guidance. Viewers read it all without the forms.
 */
export function GateBox({ runId, step, runStatus, decision }: { runId: string; step: StepDetail; runStatus: RunStatus; decision: ReactNode }) {
  const { role } = useSession();
  const { gate } = step;
  if (!gate) return null;
  const below = gate.score !== undefined && gate.score < gate.threshold;
  const waiting = step.status === 'needs_qa' && ['waiting', 'paused'].includes(gate.state);
  const editor = can(role, 'editor');
  return (
    <section className="gate-box" data-status={step.status === 'needs_qa' ? (below ? 'failed' : 'needs_qa') : step.status} data-testid="gate-box" data-gate-state={gate.state}>
      <h3>
        Quality gate <span className="muted small">({gate.from === 'project' ? "the project's default" : "this step's"})</span>
      </h3>
      <p className="small" data-testid="gate-policy">
        reviewer <strong>{gate.reviewer}</strong> · threshold <strong>{gate.threshold}</strong> · below it <strong>{gate.onBelow}</strong>
        {gate.onBelow === 'retry' && ` · retries ${gate.retries} of ${gate.maxRetries}`}
      </p>
      {step.status === 'needs_qa' ? (
        <p data-testid="gate-state">
          <StatusBadge status={gate.state} /> {states[gate.state] ?? gate.state}
        </p>
      ) : (
        <p className="small" data-testid="gate-state">
          <StatusBadge status={step.status} /> {step.status === 'completed' ? 'passed its gate' : 'the gate is over'}
        </p>
      )}
      {gate.score !== undefined && (
        <div className="gate-score" data-testid="gate-score">
          <span className="score" data-score-band={below ? 'low' : 'good'}>
            {gate.score}
          </span>
          <div>
            <div className="small">
              {below ? `below the threshold of ${gate.threshold}` : `at or above the threshold of ${gate.threshold}`}
            </div>
            {gate.comment && <div className="feedback-comment">{gate.comment}</div>}
          </div>
        </div>
      )}
      {gate.error && (
        <p className="error-box small" data-testid="gate-error">
          The reviewer gave no score: {gate.error}
        </p>
      )}
      {waiting && editor && (
        <div className="gate-actions">
          {waitsForScore(step) && (
            <>
              <h4>Score it</h4>
              <p className="muted small">
                At {gate.threshold} or above the step completes; below, {gate.onBelow === 'fail' ? 'it fails' : gate.onBelow === 'retry' ? 'it runs again with your comment' : 'it waits here again'}.
              </p>
              <ScoreForm runId={runId} step={step} decides />
            </>
          )}
          <h4>{waitsForScore(step) ? 'Or decide' : 'Decide'}</h4>
          {decision}
          <RerunForm runId={runId} step={step} runStatus={runStatus} label="Re-run with guidance…" />
        </div>
      )}
      {waiting && !editor && <p className="muted small">Waiting for an editor to score, approve or reject it.</p>}
    </section>
  );
}

/**
 * The run's steps held at their quality gate for a person, at the top of its page: which step, the
 * score against the threshold, and a link to its gate box.
 */
export function GateWaits({ steps, onSelect }: { steps: readonly StepSummary[]; onSelect: (stepId: string) => void }) {
  const held = steps.flatMap(({ id, status, gate }) => (status === 'needs_qa' && gate && ['waiting', 'paused'].includes(gate.state) ? [{ id, gate }] : []));
  if (held.length === 0) return null;
  return (
    <div className="reason gates" data-testid="gate-waits">
      {held.map(({ id, gate }) => (
        <p key={id} data-step-id={id}>
          <span className="reason-code">QUALITY GATE</span>{' '}
          <button type="button" className="link mono" onClick={() => onSelect(id)}>
            {id}
          </button>{' '}
          {gate.state === 'paused' ? `scored ${gate.score ?? 'nothing'} (threshold ${gate.threshold}): waits for a person to approve, reject or re-run it` : `waits for a person's score (threshold ${gate.threshold})`}
        </p>
      ))}
    </div>
  );
}
