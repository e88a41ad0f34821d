import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { RunDetail } from '../api';
import { useSession } from '../context';
import { ErrorText } from './error-text';
import { errorText } from './format';

/**
 * Retry a blocked run: its failed steps run again. Each failed step's input is shown as JSON to
 * edit; only the inputs that were changed are sent as replacements.
 */
export function RetryPanel({ run, onDone, onCancel }: { run: RunDetail; onDone: () => Promise<void>; onCancel: () => void }) {
  const { api } = useSession();
  const failed = run.failedSteps ?? [];
  const details = useQuery({ queryKey: ['retry-inputs', run.id, failed.join(',')], queryFn: () => Promise.all(failed.map((stepId) => api.getStep(run.id, stepId))) });
  const [edited, setEdited] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const original = (stepId: string) => JSON.stringify(details.data?.find((step) => step.id === stepId)?.input ?? null, null, 2);

  const submit = async () => {
    setError(null);
    const inputs: Record<string, unknown> = {};
    for (const [stepId, text] of Object.entries(edited)) {
      if (text === original(stepId)) continue;
      try {
        inputs[stepId] = JSON.parse(text) as unknown;
      } catch {
        setError(`The input of ${stepId} is not valid JSON`);
        return;
      }
    }
    setBusy(true);
    try {
      await api.retryRun(run.id, inputs);
      await onDone();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-label="Retry run">
      <h2>Retry the failed steps</h2>
      {details.isPending && <p className="muted">Loading the failed steps…</p>}
      {details.data?.map((step) => (
        <div key={step.id} className="retry-step">
          <h3>
            <span className="mono">{step.id}</span> <span className="muted small">{step.error?.message}</span>
          </h3>
          <label>
            Input (JSON)
            <textarea
              name={`input-${step.id}`}
              data-step-id={step.id}
              rows={6}
              spellCheck={false}
              value={edited[step.id] ?? original(step.id)}
              onChange={(event) => setEdited({ ...edited, [step.id]: event.target.value })}
            />
          </label>
        </div>
      ))}
      <ErrorText error={error} />
      <div className="actions">
        <button type="button" disabled={busy || !details.data} onClick={() => void submit()}>
          Retry run
        </button>
        <button type="button" className="link" onClick={onCancel}>
          Close
        </button>
      </div>
    </section>
  );
}
