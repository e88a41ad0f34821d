import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { RunStatus, StepDetail } from '../api';
import { can, useSession } from '../context';
import { ErrorText } from './error-text';

/**
 * Whether the API would take a re-run of this step now: the step completed or failed, and the run
 * is completed or blocked (the API also wants nothing queued or running; it says so if not), or
 * the step waits for a person at its quality gate.
 */
export const canRerun = (step: StepDetail, runStatus: RunStatus) =>
  (['completed', 'failed'].includes(step.status) && ['completed', 'blocked'].includes(runStatus)) ||
  // A step held at its quality gate waiting for a person: a guided re-run of it alone (issue 12 §2).
  (step.status === 'needs_qa' && runStatus !== 'cancelled' && ['paused', 'waiting'].includes(step.gate?.state ?? ''));

/** Run a step again (a new generation, then its downstream), with guidance and optionally a new input. Editors only. */
export function RerunForm({ runId, step, runStatus, label = 'Re-run…' }: { runId: string; step: StepDetail; runStatus: RunStatus; label?: string }) {
  const { api, role } = useSession();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [guidance, setGuidance] = useState('');
  const [input, setInput] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!can(role, 'editor') || !canRerun(step, runStatus)) return null;

  const original = JSON.stringify(step.input ?? null, null, 2);
  const submit = async () => {
    setError(null);
    let newInput: unknown;
    if (input.trim() && input !== original) {
      try {
        newInput = JSON.parse(input) as unknown;
      } catch {
        setError('The new input is not valid JSON');
        return;
      }
    }
    setBusy(true);
    try {
      const rerun = await api.rerunStep(runId, step.id, { ...(newInput !== undefined ? { input: newInput } : {}), ...(guidance.trim() ? { guidance: guidance.trim() } : {}) });
      setDone(`Running ${step.id} again as generation ${rerun.step.generation}${rerun.downstream.length ? `, then ${rerun.downstream.join(', ')}` : ''}.`);
      setOpen(false);
      await Promise.all(['run', 'steps', 'step', 'events'].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="rerun" data-testid="rerun">
      {done && (
        <p className="ok small" role="status">
          {done}
        </p>
      )}
      {!open ? (
        <button type="button" onClick={() => setOpen(true)}>
          {label}
        </button>
      ) : (
        <form
          aria-label="Re-run step"
          onSubmit={(event) => {
            event.preventDefault();
            void submit();
          }}
        >
          <p className="muted small">Runs {step.id} again as a new execution (new idempotency key), then everything downstream of it.</p>
          <label>
            Guidance (added to the step's input)
            <textarea name="guidance" rows={2} maxLength={2000} value={guidance} onChange={(event) => setGuidance(event.target.value)} placeholder="What to do differently" />
          </label>
          <label>
            Input (JSON; leave as is to keep it)
            <textarea name="rerunInput" rows={5} spellCheck={false} value={input || original} onChange={(event) => setInput(event.target.value)} />
          </label>
          <div className="actions">
            <button type="submit" disabled={busy}>
              Re-run step
            </button>
            <button type="button" className="link" onClick={() => setOpen(false)}>
              Close
            </button>
          </div>
          <ErrorText error={error} />
        </form>
      )}
    </div>
  );
}
