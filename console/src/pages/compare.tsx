import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import type { RunComparison } from '../api';
import { ErrorText } from '../components/error-text';
import { formatUsd, pretty } from '../components/format';
import { StatusBadge } from '../components/status';
import { useSession } from '../context';
import { backoff } from '../polling';

type Side = NonNullable<RunComparison['steps'][number]['a']>;
type Totals = RunComparison['a'];

const finished = (comparison: RunComparison) => ['completed', 'failed', 'cancelled'].includes(comparison.a.status) && ['completed', 'failed', 'cancelled'].includes(comparison.b.status);

const ms = (value: number | undefined) => (value === undefined ? '—' : Math.abs(value) < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`);
const tokens = (value: { input: number; output: number }) => (value.input + value.output).toLocaleString();
const signed = (text: string, value: number) => (value > 0 ? `+${text}` : text);

/** One run's side of a step: its status (or "reused"), duration, tokens and cost. */
function StepSide({ side }: { side: Side | undefined }) {
  if (!side) return <td colSpan={4} className="muted">not in this run</td>;
  return (
    <>
      <td>
        {side.reused ? <span className="badge reused">reused</span> : <StatusBadge status={side.status} />}
        {side.generation > 1 && <span className="muted small"> gen {side.generation}</span>}
      </td>
      <td className="num">{ms(side.durationMs)}</td>
      <td className="num">{tokens(side.tokens)}</td>
      <td className="num">{formatUsd(side.costUsd)}</td>
    </>
  );
}

function RunTotals({ label, totals }: { label: string; totals: Totals }) {
  return (
    <tr data-testid={`compare-total-${label}`}>
      <th>
        {label}:{' '}
        <Link href={`/runs/${totals.id}`} className="mono">
          {totals.id}
        </Link>
      </th>
      <td>
        <StatusBadge status={totals.status} />
      </td>
      <td className="num">{ms(totals.durationMs)}</td>
      <td className="num">{tokens(totals.tokens)}</td>
      <td className="num">{formatUsd(totals.costUsd)}</td>
      <td className="num">{totals.executedSteps}</td>
      <td className="num">{totals.reusedSteps}</td>
    </tr>
  );
}

/** Two runs step by step: status, output difference, duration, tokens and cost, and the totals with b − a. */
export function ComparePage({ a, b }: { a: string; b: string }) {
  const { api } = useSession();
  const comparison = useQuery({ queryKey: ['compare', a, b], queryFn: () => api.compareRuns(a, b), refetchInterval: backoff<RunComparison>(finished) });
  if (comparison.isError) return <ErrorText error={comparison.error} />;
  if (!comparison.data) return <p className="muted">Comparing…</p>;
  const data = comparison.data;
  const { difference } = data;
  return (
    <div className="compare" data-testid="compare">
      <p className="crumbs">
        <Link href="/runs">Runs</Link> / compare
      </p>
      <h1>Compare two runs</h1>
      {data.b.forkedFrom?.runId === data.a.id && (
        <p className="muted">
          b is a fork of a at step <span className="mono">{data.b.forkedFrom.stepId}</span>.
        </p>
      )}
      <h2>Totals</h2>
      <table className="compare-totals">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th className="num">duration</th>
            <th className="num">tokens</th>
            <th className="num">cost (models, agents)</th>
            <th className="num">steps run</th>
            <th className="num">steps reused</th>
          </tr>
        </thead>
        <tbody>
          <RunTotals label="a" totals={data.a} />
          <RunTotals label="b" totals={data.b} />
          <tr data-testid="compare-difference" className="difference">
            <th>b − a</th>
            <td />
            <td className="num">{difference.durationMs === undefined ? '—' : signed(ms(difference.durationMs), difference.durationMs)}</td>
            <td className="num">{signed(tokens(difference.tokens), difference.tokens.input + difference.tokens.output)}</td>
            <td className="num">{signed(formatUsd(difference.costUsd), difference.costUsd)}</td>
            <td className="num">{signed(String(data.b.executedSteps - data.a.executedSteps), data.b.executedSteps - data.a.executedSteps)}</td>
            <td className="num">{signed(String(data.b.reusedSteps - data.a.reusedSteps), data.b.reusedSteps - data.a.reusedSteps)}</td>
          </tr>
        </tbody>
      </table>
      <h2>
        Steps <span className="muted small">({data.changedSteps.length ? `${data.changedSteps.length} ${data.changedSteps.length === 1 ? 'differs' : 'differ'}: ${data.changedSteps.join(', ')}` : 'none differ'})</span>
      </h2>
      <table className="compare-steps">
        <thead>
          <tr>
            <th rowSpan={2}>step</th>
            <th colSpan={4} className="side">
              a
            </th>
            <th colSpan={4} className="side">
              b
            </th>
            <th rowSpan={2}>output</th>
          </tr>
          <tr>
            <th>status</th>
            <th className="num">duration</th>
            <th className="num">tokens</th>
            <th className="num">cost</th>
            <th>status</th>
            <th className="num">duration</th>
            <th className="num">tokens</th>
            <th className="num">cost</th>
          </tr>
        </thead>
        <tbody>
          {data.steps.map((step) => (
            <tr key={step.stepId} data-step-id={step.stepId} data-changed={data.changedSteps.includes(step.stepId) ? 'true' : 'false'} className={data.changedSteps.includes(step.stepId) ? 'changed' : ''}>
              <td className="mono">{step.stepId}</td>
              <StepSide side={step.a} />
              <StepSide side={step.b} />
              <td data-testid="output-diff">
                {step.output.equal ? (
                  <span className="muted">same</span>
                ) : (
                  <details>
                    <summary>
                      {step.output.changes.length} difference{step.output.changes.length === 1 ? '' : 's'}
                      {step.output.truncated ? ' (first 20)' : ''}
                    </summary>
                    <table className="small diff">
                      <tbody>
                        {step.output.changes.map((change) => (
                          <tr key={change.path}>
                            <td className="mono">{change.path}</td>
                            <td>
                              <pre className="diff-a">{pretty(change.a)}</pre>
                            </td>
                            <td>
                              <pre className="diff-b">{pretty(change.b)}</pre>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
