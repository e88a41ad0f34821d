import { useState } from 'react';
import { useLocation } from 'wouter';
import type { RunDetail, StepSummary } from '../api';
import { useSession } from '../context';
import { ErrorText } from './error-text';

/**
 * Fork the run at a step: a new run of the same workflow version that reuses the output of every
 * step not downstream of it and runs the rest, optionally with another run input. Opens the fork.
 */
export function ForkPanel({ run, steps, fromStep, onCancel }: { run: RunDetail; steps: StepSummary[]; fromStep?: string | undefined; onCancel: () => void }) {
  const { api } = useSession();
  const [, navigate] = useLocation();
  const [from, setFrom] = useState(fromStep ?? steps[0]?.id ?? '');
  const original = JSON.stringify(run.input ?? null, null, 2);
  const [input, setInput] = useState(original);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setError(null);
    let newInput: unknown;
    if (input.trim() !== original.trim()) {
      try {
        newInput = JSON.parse(input) as unknown;
      } catch {
        setError('The run input is not valid JSON');
        return;
      }
    }
    setBusy(true);
    try {
      const fork = await api.forkRun(run.id, { fromStep: from, ...(newInput !== undefined ? { input: newInput } : {}) });
      navigate(`/runs/${fork.id}`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <form
      className="panel"
      aria-label="Fork run"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <h2>Fork this run</h2>
      <p className="muted small">A new run of {run.workflowName} v{run.workflowVersion}: the steps before the chosen one keep this run's outputs (they do not run again, nor cost anything); the chosen step and everything downstream of it run.</p>
      <div className="inline-form">
        <label>
          From step
          <select name="fromStep" value={from} onChange={(event) => setFrom(event.target.value)}>
            {steps.map((step) => (
              <option key={step.id} value={step.id}>
                {step.id}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label>
        Run input (JSON; leave as is to keep this run's)
        <textarea name="forkInput" rows={4} spellCheck={false} value={input} onChange={(event) => setInput(event.target.value)} />
      </label>
      <ErrorText error={error} />
      <div className="actions">
        <button type="submit" disabled={busy || !from}>
          Fork run
        </button>
        <button type="button" className="link" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}
