import { useState } from 'react';
import type { RunDetail } from '../api';
import { ErrorText } from './error-text';
import { formatUsd } from './format';

type BudgetLimit = { tokens?: number; usd?: number; mode: 'strict' | 'warn' | 'off' };
type Spend = { tokens: number; usd: number };

/** One budget against its spend: "1,200 / 5,000 tokens · $0.01 / $0.02 · strict". */
function BudgetLine({ label, limit, spent, reserved }: { label: string; limit: BudgetLimit; spent: Spend; reserved?: Spend }) {
  const parts = [
    ...(limit.tokens !== undefined ? [`${spent.tokens.toLocaleString()} / ${limit.tokens.toLocaleString()} tokens`] : []),
    ...(limit.usd !== undefined ? [`${formatUsd(spent.usd)} / ${formatUsd(limit.usd)}`] : []),
  ];
  const reservedText = reserved && (reserved.tokens || reserved.usd) ? ` (+${reserved.tokens} tokens reserved)` : '';
  return (
    <li data-testid={`budget-${label}`}>
      <strong>{label}</strong> {parts.join(' · ') || 'no limit'} · {limit.mode}
      {reservedText}
    </li>
  );
}

/** Spend against each budget of the run (run, its steps', the project's month); an editor may set the run's. */
export function BudgetsCard({ run, editor, onSave }: { run: RunDetail; editor: boolean; onSave: (budget: BudgetLimit) => Promise<void> }) {
  const budgets = run.budgets;
  const [editing, setEditing] = useState(false);
  const [tokens, setTokens] = useState(String(budgets.run?.tokens ?? ''));
  const [usd, setUsd] = useState(String(budgets.run?.usd ?? ''));
  const [mode, setMode] = useState<BudgetLimit['mode']>(budgets.run?.mode ?? 'strict');
  const [error, setError] = useState<unknown>(null);
  const save = async () => {
    setError(null);
    try {
      await onSave({ ...(tokens.trim() ? { tokens: Number(tokens) } : {}), ...(usd.trim() ? { usd: Number(usd) } : {}), mode });
      setEditing(false);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <div className="card" data-testid="run-budgets">
      <h3>Budgets</h3>
      <ul className="counts">
        {budgets.run && <BudgetLine label="run" limit={budgets.run} spent={budgets.run.spent} reserved={budgets.run.reserved} />}
        {budgets.projectMonthly && <BudgetLine label={`project ${budgets.projectMonthly.month}`} limit={budgets.projectMonthly} spent={budgets.projectMonthly.spent} reserved={budgets.projectMonthly.reserved} />}
        {Object.entries(budgets.steps ?? {}).map(([stepId, step]) => (
          <BudgetLine key={stepId} label={`step ${stepId}`} limit={step} spent={step.spent} />
        ))}
      </ul>
      {!budgets.run && !budgets.projectMonthly && !budgets.steps && <p className="muted small">No budget</p>}
      {editor && !editing && (
        <button type="button" onClick={() => setEditing(true)}>
          Set run budget…
        </button>
      )}
      {editing && (
        <form
          aria-label="Run budget"
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <label>
            tokens <input inputMode="numeric" value={tokens} onChange={(event) => setTokens(event.target.value)} />
          </label>
          <label>
            USD <input inputMode="decimal" value={usd} onChange={(event) => setUsd(event.target.value)} />
          </label>
          <label>
            mode{' '}
            <select value={mode} onChange={(event) => setMode(event.target.value as BudgetLimit['mode'])}>
              <option value="strict">strict</option>
              <option value="warn">warn</option>
              <option value="off">off</option>
            </select>
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
