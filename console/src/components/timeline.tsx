import type { RunEvent, StepSummary } from '../api';

/** One attempt of a step: when it started, when it ended (or still runs), how it ended. */
export interface Attempt {
  attempt: number;
  start: number;
  end?: number;
  outcome: string;
}

const ending: Record<string, string> = {
  'step.retrying': 'retrying',
  'step.failed': 'failed',
  'step.completed': 'completed',
  'step.needs_qa': 'needs_qa',
  'step.cancelled': 'cancelled',
  // A loop's iteration ended with an output that did not meet its condition: that attempt completed.
  'step.iterated': 'completed',
};

/** Each step's attempts, read from the run's event history (oldest first). */
export function attemptsByStep(events: readonly RunEvent[]): Map<string, Attempt[]> {
  const byStep = new Map<string, Attempt[]>();
  for (const event of events) {
    if (!event.stepId) continue;
    const attempts = byStep.get(event.stepId) ?? [];
    const open = attempts.at(-1);
    const at = Date.parse(event.at);
    if (event.type === 'step.started') {
      if (open && open.end === undefined) open.end = at;
      attempts.push({ attempt: Number(event.detail.attempt ?? attempts.length + 1), start: at, outcome: 'running' });
    } else if (ending[event.type] && open && open.end === undefined) {
      // A step waiting for a person keeps its bar open until the decision.
      if (event.type === 'step.needs_qa') open.outcome = 'needs_qa';
      else {
        open.end = at;
        open.outcome = ending[event.type]!;
      }
    }
    byStep.set(event.stepId, attempts);
  }
  return byStep;
}

/**
 * The attempts a row draws: those the events tell, and when the loaded events do not (yet) show
 * the step's latest start (they are read apart from the steps), one more from the step itself, so
 * every step that started has a bar.
 */
function rowAttempts(step: StepSummary, fromEvents: Attempt[] | undefined): Attempt[] {
  const attempts = fromEvents ?? [];
  if (!step.startedAt) return attempts;
  const started = Date.parse(step.startedAt);
  if (attempts.some((attempt) => attempt.start >= started)) return attempts;
  const settled = ['completed', 'failed', 'cancelled', 'skipped'].includes(step.status);
  return [...attempts, { attempt: step.attempt, start: started, ...(step.finishedAt ? { end: Date.parse(step.finishedAt) } : {}), outcome: settled || step.status === 'needs_qa' ? step.status : 'running' }];
}

/** Tick steps a time axis may use, in ms: 1-2-5 per decade from 1 ms, then minutes and hours. */
const tickSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];

/** A tick's offset from the run's start in the unit its step reads best in: `50 ms`, `1.5 s`, `2 min`, `3 h`. */
export function tickLabel(offset: number, step: number): string {
  if (offset === 0) return '0';
  if (step < 1000) return `${offset} ms`;
  if (step < 60_000) return `${Number((offset / 1000).toFixed(step % 1000 ? 1 : 0))} s`;
  if (step < 3_600_000) return `${Number((offset / 60_000).toFixed(step % 60_000 ? 1 : 0))} min`;
  return `${Number((offset / 3_600_000).toFixed(step % 3_600_000 ? 1 : 0))} h`;
}

/** Between three and six ticks on a round step over a span of `span` ms, each at its offset from the start. */
export function axisTicks(span: number): { offset: number; label: string }[] {
  const step = tickSteps.find((candidate) => span / candidate <= 5) ?? tickSteps.at(-1)!;
  const ticks: { offset: number; label: string }[] = [];
  for (let offset = 0; offset <= span; offset += step) ticks.push({ offset, label: tickLabel(offset, step) });
  return ticks;
}

/** A step the plan import marked done: completed when the run was created, never started. */
const doneBeforeRun = (step: StepSummary) => step.status === 'completed' && !step.startedAt && step.attempt === 0;

/**
 * A Gantt-like view of the run: one row per step, a light bar while queued and one bar per
 * attempt, coloured by how it ended (a step with more than one attempt says how many). Steps a
 * plan import marked done show a small mark at the run's start. Times run from the run's first
 * step to now (or the end).
 */
export function Timeline({ steps, events, now }: { steps: StepSummary[]; events: RunEvent[]; now: number }) {
  const attempts = attemptsByStep(events);
  // A loop step's summary has its latest iteration's times: its earlier attempts come from the events.
  const times = [
    ...steps.flatMap((step) => [step.queuedAt, step.startedAt, step.finishedAt].filter((value): value is string => Boolean(value)).map((value) => Date.parse(value))),
    ...steps.flatMap((step) => (attempts.get(step.id) ?? []).flatMap((attempt) => (attempt.end === undefined ? [attempt.start] : [attempt.start, attempt.end]))),
  ];
  if (times.length === 0) return <p className="muted">No step has been queued yet.</p>;
  const start = Math.min(...times);
  const end = Math.max(now, ...times);
  const span = Math.max(1, end - start);
  const left = (time: number) => `${(((time - start) / span) * 100).toFixed(3)}%`;
  const width = (from: number, to: number) => `${Math.max(0.4, ((to - from) / span) * 100).toFixed(3)}%`;
  // In the order the steps were queued (those done at import first); steps not queued yet go
  // last, by id with numbers read as numbers (a plan's day-2 before day-10, not after day-199 as
  // the API's key order has it).
  const firstSeen = (step: StepSummary) => step.queuedAt ?? step.startedAt ?? step.finishedAt ?? '\uffff';
  const ordered = [...steps].sort(
    (a, b) => (firstSeen(a) < firstSeen(b) ? -1 : firstSeen(a) > firstSeen(b) ? 1 : a.id.localeCompare(b.id, 'en', { numeric: true })),
  );
  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-scale" data-testid="timeline-scale" title={`${new Date(start).toLocaleTimeString(undefined, { hour12: false })} to ${new Date(end).toLocaleTimeString(undefined, { hour12: false })}`}>
        {axisTicks(span).map((tick) => (
          // A tick near the right edge writes its label to the left of its line, inside the frame.
          <span key={tick.offset} className={`tick${tick.offset / span > 0.85 ? ' end' : ''}`} style={{ left: `${((tick.offset / span) * 100).toFixed(3)}%` }}>
            {tick.label}
          </span>
        ))}
      </div>
      <div className="timeline-rows">
        {ordered.map((step) => {
          const queued = step.queuedAt ? Date.parse(step.queuedAt) : undefined;
          const stepAttempts = rowAttempts(step, attempts.get(step.id));
          const firstStart = stepAttempts[0]?.start;
          return (
            <div className="timeline-row" key={step.id} data-step-id={step.id} data-attempts={stepAttempts.length}>
              <span className="timeline-label" title={step.id}>
                {step.id}
                {stepAttempts.length > 1 && <span className="attempts"> ×{stepAttempts.length}</span>}
              </span>
              <span className="timeline-track">
                {doneBeforeRun(step) && step.finishedAt && (
                  <span className="bar done-before" data-status="completed" style={{ left: left(Date.parse(step.finishedAt)), width: width(0, 0) }} title={`${step.id}: done before the run (marked done in the plan)`} />
                )}
                {queued !== undefined && (firstStart === undefined || firstStart > queued) && (
                  <span
                    className={`bar queued${step.status === 'throttled' ? ' throttled' : ''}`}
                    style={{ left: left(queued), width: width(queued, firstStart ?? (['queued', 'throttled'].includes(step.status) ? now : queued)) }}
                    title={step.status === 'throttled' ? `${step.id}: waiting for capacity` : `${step.id}: queued`}
                  />
                )}
                {stepAttempts.map((attempt) => (
                  <span
                    key={attempt.attempt + ':' + attempt.start}
                    className="bar"
                    data-status={attempt.outcome}
                    data-attempt={attempt.attempt}
                    style={{ left: left(attempt.start), width: width(attempt.start, attempt.end ?? now) }}
                    title={`${step.id} attempt ${attempt.attempt}: ${attempt.outcome}, ${(((attempt.end ?? now) - attempt.start) / 1000).toFixed(2)} s`}
                  />
                ))}
              </span>
            </div>
          );
        })}
      </div>
    </div>
  );
}
