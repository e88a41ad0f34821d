import type { EventToWrite, PlanWrite, Release } from '#shared/engine/store';
import { keys } from './keys';
import type { StepRecord } from './runs';
import { historyEntry } from './step-history';
import type { Transaction } from './transaction';

/** What the engine store lends a plan's write: how a step becomes an item, a release its attributes, and where an event goes. */
export interface PlanWriteHelpers {
  stepItem(step: StepRecord): Record<string, unknown> & { pk: string; sk: string };
  releaseSet(release: Release): Record<string, unknown>;
  /** An event as an item of its own (for the bus or the feed), or undefined when it belongs in its step's history. */
  eventItem(tx: Transaction, entry: EventToWrite): boolean;
}

/**
 * A planner's plan, in its completion's transaction (store port `complete` with `Finish.plan`;
 * shared/engine/planner.ts): each added step a whole item (never there before: ids are unique in
 * the run), an entry queued with its step.queued in its history (or as an item), the planner's
 * former dependents waiting for the exits (only while still pending; an item born here holds
 * their state on top of their definition), the exits in a sink planner's bucket, the run's
 * total, and run.planned. The planner's own item gets `dependents` (the entries) from the caller.
 */
export function planInto(tx: Transaction, runId: string, plan: PlanWrite, helpers: PlanWriteHelpers): void {
  for (const { step, release } of plan.added) {
    const item: Record<string, unknown> & { pk: string; sk: string } = { ...helpers.stepItem(step), ...(release ? helpers.releaseSet(release) : {}) };
    if (release && !helpers.eventItem(tx, release.event)) {
      item.history = [historyEntry(release.event.event)];
      tx.recorded(keys.runEvent(runId, release.event.event.id), release.event.event);
    }
    tx.put(item, 'attribute_not_exists(pk)');
  }
  for (const { stepId, dependsOn, definedRemaining, delta } of plan.rewired) {
    tx.update(keys.step(runId, stepId), {
      set: { dependsOn },
      setIfMissing: { status: 'pending', attempt: 0 },
      shift: { remaining: { from: definedRemaining, by: delta } },
      condition: 'attribute_not_exists(#pk) OR #status = :pending',
      values: { ':pending': 'pending' },
    });
  }
  if (plan.sinks) tx.update(keys.sinkBucket(runId, plan.sinks.bucket), { add: { pending: new Set(plan.sinks.stepIds) }, condition: 'attribute_exists(#pk)' });
  tx.update(keys.run(runId), { add: { totalSteps: plan.added.length } });
  helpers.eventItem(tx, plan.event);
}
