import type { RunEvent, StepSummary } from '../api';

/**
 * Which steps planners added to the run (issue 13 §2: `plannedBy`), above the DAG, where they are
 * drawn dashed: how many, by which planner (a link to it).
 */
export function PlannedLegend({ steps, onSelect }: { steps: readonly StepSummary[]; onSelect: (stepId: string) => void }) {
  const byPlanner = new Map<string, number>();
  for (const step of steps) if (step.plannedBy) byPlanner.set(step.plannedBy, (byPlanner.get(step.plannedBy) ?? 0) + 1);
  if (byPlanner.size === 0) return null;
  return (
    <p className="legend small" data-testid="planned-steps">
      <span className="swatch" aria-hidden="true" />
      {[...byPlanner].map(([planner, count], index) => (
        <span key={planner}>
          {index > 0 && '; '}
          {count} {count === 1 ? 'step' : 'steps'} added by the planner{' '}
          <button type="button" className="link mono" onClick={() => onSelect(planner)}>
            {planner}
          </button>
        </span>
      ))}
    </p>
  );
}

/** `s01, s02, s03 … s20`: a long list of step ids shortened to its first and last. */
const ids = (list: readonly string[]): string => (list.length <= 4 ? list.join(', ') : `${list.slice(0, 3).join(', ')} \u2026 ${list.at(-1)}`);

/** A `run.planned` event in words: which planner added how many steps, and who waits for them now. */
export function PlannedSummary({ event }: { event: RunEvent }) {
  const detail = event.detail as { stepId?: string; added?: string[]; exits?: string[]; rewired?: string[] };
  const added = detail.added ?? [];
  return (
    <span className="planned-summary" data-testid="run-planned">
      <span className="mono">{detail.stepId}</span> added {added.length} {added.length === 1 ? 'step' : 'steps'} ({ids(added)})
      {detail.rewired?.length ? `; ${ids(detail.rewired)} now ${detail.rewired.length === 1 ? 'waits' : 'wait'} for ${ids(detail.exits ?? [])}` : ''}
    </span>
  );
}
