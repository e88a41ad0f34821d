import type { RunEvent, StepDetail } from '../api';
import { formatTime, pretty } from './format';

interface Iterated {
  iteration?: number;
  next?: number;
  generation?: number;
  output?: unknown;
  outputRef?: unknown;
}

/**
 * A loop step's iterations (README "Loops"): the one it is in, and each ended iteration's output
 * as its `step.iterated` event kept it (an output over 4 KB is kept in S3: its reference is shown).
 */
export function LoopIterations({ step, events }: { step: StepDetail; events: readonly RunEvent[] }) {
  const iterated = events.filter((event) => event.type === 'step.iterated' && event.stepId === step.id);
  const loop = (step as { loop?: { maxIterations?: number } }).loop;
  if (!step.iteration && iterated.length === 0) return null;
  const current = step.iteration ?? iterated.length + 1;
  return (
    <section data-testid="loop-iterations">
      <h3>Iterations</h3>
      <p className="small" data-testid="loop-iteration">
        {step.status === 'completed' ? `Completed in iteration ${current}` : `Iteration ${current}`}
        {loop?.maxIterations ? ` of at most ${loop.maxIterations}` : ''}
        {iterated.length ? `; ${iterated.length} earlier ${iterated.length === 1 ? 'iteration' : 'iterations'} did not meet its condition` : ''}.
      </p>
      {iterated.length > 0 && (
        <table className="small">
          <thead>
            <tr>
              <th>iteration</th>
              <th>ended</th>
              <th>output</th>
            </tr>
          </thead>
          <tbody>
            {iterated.map((event) => {
              const detail = event.detail as Iterated;
              return (
                <tr key={event.id} data-iteration={detail.iteration}>
                  <td>{detail.iteration}</td>
                  <td>{formatTime(event.at)}</td>
                  <td>
                    <pre className="inline-json">{detail.outputRef !== undefined ? `kept in S3: ${pretty(detail.outputRef)}` : JSON.stringify(detail.output ?? null)}</pre>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
