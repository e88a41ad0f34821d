import { runSteps, type BatonClient, type MapChildrenPage, type StepSummary } from '#sdk';

/** A map's child is a step of the run with the id `<map id>[<index, 6 digits>]` (README "Map steps"). */
const childId = /^(.+)\[\d{6}\]$/;

/**
 * The run's own steps, every page of the listing (a big run is several), without the children of
 * its maps (they follow their map in step-id order; `baton step <run> <map> --children` lists them).
 */
export async function ownSteps(client: BatonClient, runId: string): Promise<StepSummary[]> {
  const steps: StepSummary[] = [];
  const maps = new Set<string>();
  for await (const step of runSteps(client, runId)) {
    const map = childId.exec(step.id)?.[1];
    if (map && maps.has(map)) continue;
    if (step.kind === 'map') maps.add(step.id);
    steps.push(step);
  }
  return steps;
}

/** `148 of 200 done: 146 succeeded, 2 failed, 52 queued or running` */
export const mapCountsLine = (counts: MapChildrenPage['counts']): string =>
  `${counts.done} of ${counts.count} done: ${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.count - counts.done} queued or running${counts.round && counts.round > 1 ? ` (round ${counts.round})` : ''}`;
