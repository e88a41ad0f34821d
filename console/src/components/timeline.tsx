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
  const times = steps.flatMap((step) => [step.queuedAt, step.startedAt, step.finishedAt].filter((value): value is string => Boolean(value)).map((value) => Date.parse(value)));
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
      <div className="timeline-scale">
        <span>{new Date(start).toLocaleTimeString(undefined, { hour12: false })}</span>
        <span>{((end - start) / 1000).toFixed(1)} s</span>
        <span>{new Date(end).toLocaleTimeString(undefined, { hour12: false })}</span>
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
                  <span className="bar queued" style={{ left: left(queued), width: width(queued, firstStart ?? (step.status === 'queued' ? now : queued)) }} title={`${step.id}: queued`} />
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
