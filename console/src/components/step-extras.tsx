import type { StepDetail } from '../api';
import { formatTime } from './format';
import { StatusBadge } from './status';

/**
 * What a step may carry beyond the contract the console was built with, read defensively: a
 * throttled step's limit (issue 12 §6: `throttle`) and a quality gate's state (§2: `gate`).
 */
interface StepExtras {
  throttle?: { kind: string; key: string; limit: number; since?: string };
  gate?: { state: string; reviewer?: string; threshold?: number; onBelow?: string; retries?: number; maxRetries?: number; score?: number; comment?: string; from?: string };
}

/** Why a throttled step waits: the limit it waits for (the project's, or its concurrency key's) and since when. */
export function ThrottleNote({ step }: { step: StepDetail }) {
  const { throttle } = step as StepDetail & StepExtras;
  if ((step.status as string) !== 'throttled' || !throttle) return null;
  return (
    <p className="step-note small" data-status="throttled" data-testid="step-throttle">
      Waits for capacity: {throttle.kind === 'project' ? "the project's limit" : <>key <span className="mono">{throttle.key}</span></>} of {throttle.limit} running at once
      {throttle.since ? `, since ${formatTime(throttle.since)}` : ''}. It starts as soon as a slot frees.
    </p>
  );
}

/** A step's quality gate: the reviewer, threshold and what happens below it, where the review is, and the latest score. */
export function GateNote({ step }: { step: StepDetail }) {
  const { gate } = step as StepDetail & StepExtras;
  if (!gate) return null;
  const below = gate.score !== undefined && gate.threshold !== undefined && gate.score < gate.threshold;
  const states: Record<string, string> = {
    reviewing: 'the reviewer is scoring the output',
    waiting: 'waits for a person to score or approve it',
    paused: 'scored below the threshold: waits for a person to approve, reject or re-run it with guidance',
    retrying: 'running again with the reviewer\u2019s comment',
  };
  return (
    <div className="step-note small" data-status={below ? 'failed' : 'needs_qa'} data-testid="step-gate" data-gate-state={gate.state}>
      <strong>Quality gate</strong> ({gate.from === 'project' ? "the project's default" : 'this step'}): reviewer {gate.reviewer ?? '—'}, threshold {gate.threshold ?? 60}, below it {gate.onBelow ?? 'pause'}
      {gate.maxRetries !== undefined && gate.onBelow === 'retry' ? ` (retries ${gate.retries ?? 0} of ${gate.maxRetries})` : ''}.
      <div>
        <StatusBadge status={gate.state} /> {states[gate.state] ?? gate.state}
        {gate.score !== undefined && (
          <>
            {' '}
            · score <span className="score" data-score-band={below ? 'low' : 'good'}>{gate.score}</span>
          </>
        )}
      </div>
      {gate.comment && <blockquote className="comment">{gate.comment}</blockquote>}
    </div>
  );
}
