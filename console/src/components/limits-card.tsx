import { useState } from 'react';
import type { RunDetail } from '../api';
import { ErrorText } from './error-text';
import { formatTime } from './format';

type Limits = { maxExecutedSteps?: number; maxDurationSeconds?: number; noProgressAfter?: number };

/**
 * The run's guards (issue 12 §5): executions started against maxExecutedSteps, the duration limit
 * and its deadline, and after how many identical outputs a step stops (NO_PROGRESS); an editor
 * may set them (the form starts from the current ones: the API replaces them all).
 */
export function LimitsCard({ run, editor, onSave }: { run: RunDetail; editor: boolean; onSave: (limits: Limits) => Promise<void> }) {
  const limits = run.limits;
  const [editing, setEditing] = useState(false);
  const [executions, setExecutions] = useState(String(limits?.maxExecutedSteps ?? ''));
  const [seconds, setSeconds] = useState(String(limits?.maxDurationSeconds ?? ''));
  const [repeats, setRepeats] = useState(String(limits?.noProgressAfter ?? ''));
  const [error, setError] = useState<unknown>(null);
  if (!limits) return null;
  const save = async () => {
    setError(null);
    const value = (text: string) => (text.trim() ? Number(text) : undefined);
    const next: Limits = { maxExecutedSteps: value(executions), maxDurationSeconds: value(seconds), noProgressAfter: value(repeats) };
    try {
      await onSave(Object.fromEntries(Object.entries(next).filter(([, number]) => number !== undefined)));
      setEditing(false);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <div className="card" data-testid="run-limits">
      <h3>Limits</h3>
      <ul className="counts">
        <li data-testid="limit-executions">
          <strong>executions</strong> {limits.executedSteps}
          {limits.maxExecutedSteps !== undefined ? ` / ${limits.maxExecutedSteps}` : ' (no limit)'}
        </li>
        <li data-testid="limit-duration">
          <strong>duration</strong> {limits.maxDurationSeconds !== undefined ? `${limits.maxDurationSeconds} s${limits.deadline ? `, until ${formatTime(limits.deadline)}` : ''}` : 'no limit'}
        </li>
        <li>
          <strong>same output</strong> {limits.noProgressAfter}× stops a step
        </li>
      </ul>
      {editor && !editing && (
        <button type="button" onClick={() => setEditing(true)}>
          Set limits…
        </button>
      )}
      {editing && (
        <form
          aria-label="Run limits"
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <label>
            max executions <input name="maxExecutedSteps" inputMode="numeric" value={executions} onChange={(event) => setExecutions(event.target.value)} />
          </label>
          <label>
            max seconds <input name="maxDurationSeconds" inputMode="numeric" value={seconds} onChange={(event) => setSeconds(event.target.value)} />
          </label>
          <label>
            same output stops after <input name="noProgressAfter" inputMode="numeric" value={repeats} onChange={(event) => setRepeats(event.target.value)} />
          </label>
          <button type="submit">Save</button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
          <ErrorText error={error} />
        </form>
      )}
    </div>
  );
}
