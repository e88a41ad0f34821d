import { Fragment } from 'react';
import type { RunDetail, RunEvent } from '../api';
import { formatUsd } from './format';

/** `BUDGET_EXCEEDED: step draft could spend …` → the code and the sentence (a reason without a code is all sentence). */
export function splitReason(reason: string): { code?: string; message: string } {
  const match = /^([A-Z][A-Z0-9_]+): (.*)$/s.exec(reason);
  return match ? { code: match[1]!, message: match[2]! } : { message: reason };
}

/** The numbers of the latest budget refusal, as its `budget.exceeded` event recorded them. */
interface BudgetRefusal {
  level?: string;
  stepId?: string;
  unit?: string;
  limit?: number;
  used?: number;
  worstCase?: number;
  left?: number;
  month?: string;
}

const amount = (unit: string | undefined, value: number | undefined) => (value === undefined ? '—' : unit === 'usd' ? formatUsd(value) : `${value.toLocaleString()} ${unit ?? ''}`.trim());

/**
 * Why the run is blocked or paused, in plain words: the reason's code as a label, its sentence,
 * and for a budget the numbers (limit, spent or reserved, the step's worst case, what is left)
 * with what to do about it.
 */
export function BlockedReason({ run, events, editor }: { run: RunDetail; events: RunEvent[]; editor: boolean }) {
  if (!run.reason) return null;
  const { code, message } = splitReason(run.reason);
  const refusal = code === 'BUDGET_EXCEEDED' ? (events.findLast((event) => event.type === 'budget.exceeded')?.detail as BudgetRefusal | undefined) : undefined;
  // A guard's stop (issue 12 §5) records its numbers in a limit.exceeded event: shown as they are.
  const limitStop = code && code !== 'BUDGET_EXCEEDED' ? (events.findLast((event) => event.type === 'limit.exceeded' && event.detail.code === code)?.detail) : undefined;
  const waits = run.status === 'blocked' || run.status === 'paused';
  return (
    <div className={`reason${waits ? '' : ' past'}`} data-testid="run-reason" data-code={code ?? ''}>
      <p>
        {code && <span className="reason-code mono">{code}</span>} {message}
      </p>
      {refusal && (
        <table className="small reason-numbers" data-testid="budget-refusal">
          <tbody>
            <tr>
              <th>budget</th>
              <td>
                {refusal.level}
                {refusal.month ? ` ${refusal.month}` : ''}
              </td>
              <th>limit</th>
              <td data-testid="refusal-limit">{amount(refusal.unit, refusal.limit)}</td>
              <th>spent or reserved</th>
              <td>{amount(refusal.unit, refusal.used)}</td>
              <th>left</th>
              <td>{amount(refusal.unit, refusal.left)}</td>
              <th>step {refusal.stepId} could spend</th>
              <td>{amount(refusal.unit, refusal.worstCase)}</td>
            </tr>
          </tbody>
        </table>
      )}
      {limitStop && (
        <table className="small reason-numbers" data-testid="limit-stop">
          <tbody>
            <tr>
              {Object.entries(limitStop)
                .filter(([key]) => key !== 'code' && key !== 'reason')
                .map(([key, value]) => (
                  <Fragment key={key}>
                    <th>{key}</th>
                    <td>{typeof value === 'string' ? value : JSON.stringify(value)}</td>
                  </Fragment>
                ))}
            </tr>
          </tbody>
        </table>
      )}
      {run.status === 'blocked' && (code === 'MAX_EXECUTED_STEPS' || code === 'MAX_DURATION') && (
        <p className="muted small">{editor ? "Raise the run's limits, then Resume." : "An editor can raise the run's limits and resume it."}</p>
      )}
      {run.status === 'blocked' && code === 'NO_PROGRESS' && (
        <p className="muted small">{editor ? 'Open the step and re-run it with guidance or a new input (or Retry).' : 'An editor can re-run the step with guidance.'}</p>
      )}
      {run.status === 'blocked' && code === 'BUDGET_EXCEEDED' && (
        <p className="muted small">{editor ? 'Raise the budget below, then Resume: the held step starts.' : 'An editor can raise the budget and resume the run.'}</p>
      )}
      {run.status === 'blocked' && run.failedSteps?.length ? <p className="muted small">{editor ? 'Retry runs the failed steps again (optionally with a new input).' : 'An editor can retry the failed steps.'}</p> : null}
    </div>
  );
}
