import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { StepDetail } from '../api';
import { can, useSession } from '../context';
import { Actor } from './actor';
import { ErrorText } from './error-text';
import { formatTime } from './format';

/** Feedback can be given once the step ran (the API's rule: needs_qa, completed or failed). */
const scorable: StepDetail['status'][] = ['needs_qa', 'completed', 'failed'];

/** A step whose quality gate waits for a person's score: feedback decides it. */
export const waitsForScore = (step: StepDetail): boolean => step.status === 'needs_qa' && step.gate?.state === 'waiting';

/** A step's feedback: every score with its comment, source and who gave it, and a form for an editor's own. */
export function StepFeedback({ runId, step }: { runId: string; step: StepDetail }) {
  const { api, role } = useSession();
  const feedback = useQuery({ queryKey: ['feedback', runId, step.id], queryFn: () => api.listStepFeedback(runId, step.id) });
  const data = feedback.data;
  return (
    <section data-testid="step-feedback">
      <h3>
        Feedback
        {data?.averageScore !== undefined && (
          <span className="muted small" data-testid="feedback-average">
            {' '}
            · average {Math.round(data.averageScore * 10) / 10} of {data.count}
          </span>
        )}
      </h3>
      <ErrorText error={feedback.error} />
      {data && data.items.length === 0 && <p className="muted small">No feedback yet.</p>}
      {data && data.items.length > 0 && (
        <ul className="feedback-list">
          {data.items.map((item) => (
            <li key={item.id} data-testid="feedback-item" data-source={item.source}>
              <span className="score" data-score-band={item.score >= 60 ? 'good' : 'low'}>
                {item.score}
              </span>
              <div>
                {item.comment && <div className="feedback-comment">{item.comment}</div>}
                <div className="muted small">
                  {item.source === 'reviewer' ? `reviewer${item.reviewerStepId ? ` step ${item.reviewerStepId}` : ''}` : 'human'} · by <Actor actor={item.actor} name={item.actorName} /> · {formatTime(item.at)}
                  {step.generation > 1 && ` · generation ${item.generation}`}
                </div>
              </div>
            </li>
          ))}
        </ul>
      )}
      {/* A gate waiting for a person's score has its own form in the gate box (quality-gate.tsx). */}
      {can(role, 'editor') && scorable.includes(step.status) && !waitsForScore(step) && <ScoreForm runId={runId} step={step} />}
    </section>
  );
}

/**
 * An editor's score 0-100 with a comment (`POST …/feedback`). On a step whose gate waits for a
 * person's review the score decides it, as a reviewer's would: `decides` says so on the button.
 */
export function ScoreForm({ runId, step, decides = false }: { runId: string; step: StepDetail; decides?: boolean }) {
  const { api } = useSession();
  const queryClient = useQueryClient();
  const [score, setScore] = useState('');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setError(null);
    const value = Number(score);
    if (!score.trim() || !Number.isInteger(value) || value < 0 || value > 100) {
      setError('The score must be a whole number from 0 to 100');
      return;
    }
    setBusy(true);
    try {
      await api.addFeedback(runId, step.id, { score: value, ...(comment.trim() ? { comment: comment.trim() } : {}) });
      setScore('');
      setComment('');
      await queryClient.invalidateQueries({ queryKey: ['feedback', runId, step.id] });
      if (decides) await Promise.all(['run', 'steps', 'step', 'inbox', 'events'].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="feedback-form"
      aria-label={decides ? 'Score the gate' : 'Add feedback'}
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <label>
        Score (0-100)
        <input
          name="score"
          type="number"
          min={0}
          max={100}
          step={1}
          required
          value={score}
          onChange={(event) => {
            setScore(event.target.value);
            setError(null);
          }}
        />
      </label>
      <label className="grow">
        Comment
        <input name="feedbackComment" value={comment} maxLength={2000} onChange={(event) => setComment(event.target.value)} placeholder="What was good, what was not" />
      </label>
      <button type="submit" disabled={busy}>
        {decides ? 'Submit score' : 'Add feedback'}
      </button>
      <ErrorText error={error} />
    </form>
  );
}
