import type { StepSummary } from '../api';
import { formatElapsed, formatTime } from './format';

type Throttle = NonNullable<StepSummary['throttle']>;

/** What a throttled step waits for, in words: `key customer-a, limit 2`, `the project's limit of 3` or `key agent-x, 2 starts a second`. */
export const throttleLimit = (throttle: Throttle): string =>
  throttle.kind === 'rate' ? `key ${throttle.key}, ${throttle.perSecond} ${throttle.perSecond === 1 ? 'start' : 'starts'} a second` : throttle.kind === 'project' ? `the project's limit of ${throttle.limit}` : `key ${throttle.key}, limit ${throttle.limit}`;

/** Why a throttled step waits (issue 12 §6): the limit it waits for, since when and for how long. */
export function ThrottleNote({ step, now }: { step: StepSummary; now: number }) {
  const { throttle } = step;
  if (step.status !== 'throttled' || !throttle) return null;
  return (
    <p className="step-note small" data-status="throttled" data-testid="step-throttle" data-key={throttle.key} data-kind={throttle.kind} {...(throttle.kind === 'rate' ? { 'data-per-second': throttle.perSecond } : { 'data-limit': throttle.limit })}>
      <strong>{throttle.kind === 'rate' ? 'Waiting for its turn:' : 'Waiting for capacity:'}</strong> {throttleLimit(throttle)}, since {formatElapsed(now - Date.parse(throttle.since))}{' '}
      <span className="muted">({formatTime(throttle.since)})</span>.{' '}
      {throttle.kind === 'rate' ? `It starts at ${formatTime(throttle.until)}; it does not poll.` : 'It starts as soon as a slot frees; it does not poll.'}
    </p>
  );
}

/**
 * The run's throttled steps grouped by the limit they wait for, so a run held back by capacity
 * says so at the top of its page rather than only in each step's drawer.
 */
export function CapacityWaits({ steps, now, onSelect }: { steps: readonly StepSummary[]; now: number; onSelect: (stepId: string) => void }) {
  const byLimit = new Map<string, { throttle: Throttle; steps: StepSummary[] }>();
  for (const step of steps) {
    if (step.status !== 'throttled' || !step.throttle) continue;
    const group = byLimit.get(step.throttle.key) ?? { throttle: step.throttle, steps: [] };
    group.steps.push(step);
    // The group waits since its oldest step.
    if (step.throttle.since < group.throttle.since) group.throttle = step.throttle;
    byLimit.set(step.throttle.key, group);
  }
  if (byLimit.size === 0) return null;
  const shown = 8;
  return (
    <div className="reason capacity" data-status="throttled" data-testid="capacity-waits">
      {[...byLimit.values()].map(({ throttle, steps: waiting }) => (
        <p key={throttle.key} data-key={throttle.key}>
          <span className="reason-code">THROTTLED</span> {waiting.length} {waiting.length === 1 ? 'step waits' : 'steps wait'} for capacity: {throttleLimit(throttle)}, since {formatElapsed(now - Date.parse(throttle.since))} ·{' '}
          {waiting.slice(0, shown).map((step, index) => (
            <span key={step.id}>
              {index > 0 && ', '}
              <button type="button" className="link mono" onClick={() => onSelect(step.id)}>
                {step.id}
              </button>
            </span>
          ))}
          {waiting.length > shown && ` and ${waiting.length - shown} more`}
        </p>
      ))}
    </div>
  );
}
