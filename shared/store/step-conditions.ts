import { sinksOpen } from '#shared/domain/sink-buckets';
import { runActionRules, runTransitions, stepTransitions, type RunMove, type StepTransitionName } from '#shared/domain/states';

/** What a guard compares with: the attempt and status the writer read, the time, the releasing parent. */
export interface GuardValues {
  attempt?: number;
  readStatus?: string;
  now?: string;
  parentId?: string;
  /** The gate round the writer read (`gateRound`). */
  round?: number;
}

const statusClause = (statuses: readonly string[], prefix: string, values: Record<string, unknown>): string => {
  statuses.forEach((status, index) => (values[`:${prefix}${index}`] = status));
  return statuses.length === 1 ? `#status = :${prefix}0` : `#status IN (${statuses.map((_, index) => `:${prefix}${index}`).join(', ')})`;
};

/**
 * The DynamoDB condition of a step transition, derived from its row of the transitions table
 * (never written by hand). Undefined when the write cannot win at all (a status read that the
 * transition does not start from).
 */
export function stepCondition(name: StepTransitionName, given: GuardValues): { condition: string; values: Record<string, unknown> } | undefined {
  const rule = stepTransitions[name];
  const guards: readonly string[] = rule.guard;
  const from: readonly string[] = rule.from;
  const values: Record<string, unknown> = {};
  if (guards.includes('asRead') && !from.includes(given.readStatus ?? '')) return undefined;
  const clauses = [statusClause(guards.includes('asRead') ? [given.readStatus!] : from, 'from', values)];
  if (guards.includes('attempt')) {
    clauses.push('#attempt = :attempt');
    values[':attempt'] = given.attempt;
  }
  if (guards.includes('leaseExpired')) {
    clauses.push('#leaseUntil < :now');
    values[':now'] = given.now;
  }
  if (guards.includes('waitingLive')) {
    clauses.push('#waitingFor = :callback AND #leaseUntil > :now');
    values[':callback'] = 'callback';
    values[':now'] = given.now;
  }
  if (guards.includes('notReleasedBy')) {
    clauses.push('NOT contains(#releasedBy, :parent)');
    values[':parent'] = given.parentId;
  }
  if (guards.includes('singleParent')) {
    clauses.push('#remaining = :one AND attribute_not_exists(#releasedBy)');
    values[':one'] = 1;
  }
  if (guards.includes('gateRound')) {
    clauses.push('#gate.#round = :round');
    values[':round'] = given.round;
  }
  if (guards.includes('leaseFree')) {
    clauses.push('(attribute_not_exists(#leaseUntil) OR #leaseUntil < :now)');
    values[':now'] = given.now;
  }
  const condition = clauses.join(' AND ');
  // A step with no item yet is pending as its definition says (attempt 0, every dependency
  // remaining, released by none): a transition from pending may be the write that creates it.
  const fromPending = guards.includes('asRead') ? given.readStatus === 'pending' : from.includes('pending');
  return { condition: fromPending ? `attribute_not_exists(#pk) OR (${condition})` : condition, values };
}

/** The condition of a run action or of a run transition the engine makes, from the same tables. */
export function runCondition(name: RunMove | `engine:${keyof typeof runTransitions}`): { condition: string; values: Record<string, unknown> } {
  const values: Record<string, unknown> = {};
  const from = name.startsWith('engine:') ? runTransitions[name.slice('engine:'.length) as keyof typeof runTransitions].from : runActionRules[name as RunMove].from;
  const condition = statusClause(from, 'run', values);
  if (!name.startsWith('engine:') && runActionRules[name as RunMove].guard === 'noFailedSteps') {
    values[':blockedStatus'] = 'blocked';
    return { condition: `${condition} AND (#status <> :blockedStatus OR attribute_not_exists(#failedSteps))`, values };
  }
  if (name !== 'engine:complete') return { condition, values };
  values[':zero'] = 0;
  // Its last sink is done: no sink bucket open, and no count left on the run (runs from before buckets).
  return { condition: `${condition} AND #remainingSinks <= :zero AND attribute_not_exists(#openSinkBuckets)`, values };
}

/** The same row read as a check on a step in memory (the in-memory store): true when the write may happen. */
export function stepGuardHolds(name: StepTransitionName, step: { status: string; attempt: number; remaining?: number; leaseUntil?: string; waitingFor?: string; releasedBy?: string[]; gate?: { round: number } }, given: GuardValues): boolean {
  const rule = stepTransitions[name];
  const guards: readonly string[] = rule.guard;
  const from: readonly string[] = rule.from;
  if (!from.includes(step.status)) return false;
  if (guards.includes('asRead') && step.status !== given.readStatus) return false;
  if (guards.includes('attempt') && step.attempt !== given.attempt) return false;
  if (guards.includes('leaseExpired') && !(step.leaseUntil !== undefined && step.leaseUntil < given.now!)) return false;
  if (guards.includes('waitingLive') && !(step.waitingFor === 'callback' && step.leaseUntil !== undefined && step.leaseUntil > given.now!)) return false;
  if (guards.includes('notReleasedBy') && (step.releasedBy ?? []).includes(given.parentId!)) return false;
  if (guards.includes('singleParent') && !(step.remaining === 1 && !step.releasedBy?.length)) return false;
  if (guards.includes('gateRound') && step.gate?.round !== given.round) return false;
  if (guards.includes('leaseFree') && step.leaseUntil !== undefined && !(step.leaseUntil < given.now!)) return false;
  return true;
}

/**
 * A person's retry forgets the failed steps it read and requeued: only if no other step failed
 * meanwhile (recorded alone while the run was blocked), or that one would be forgotten unblocked.
 */
export const failedStepsUnchanged = (failed: string[]): { condition: string; values: Record<string, unknown> } =>
  failed.length ? { condition: 'size(#failedSteps) = :failedCount', values: { ':failedCount': failed.length } } : { condition: 'attribute_not_exists(#failedSteps)', values: {} };

/**
 * `resume` and `retry` forget the held steps they read and sent: only while the run holds exactly
 * those (a step held after the read would be forgotten with no message; the action reads again).
 */
export const heldStepsUnchanged = (held: string[]): { condition: string; values: Record<string, unknown> } =>
  held.length ? { condition: '#heldSteps = :heldSteps', values: { ':heldSteps': new Set(held) } } : { condition: 'attribute_not_exists(#heldSteps)', values: {} };

/** The same check in memory: the run's held steps are the set read. */
export const heldStepsAre = (run: { heldSteps?: string[] }, held: string[]): boolean => {
  const current = new Set(run.heldSteps ?? []);
  return current.size === new Set(held).size && held.every((stepId) => current.has(stepId));
};

/** A run's status check from the same tables. */
export function runGuardHolds(name: RunMove | `engine:${keyof typeof runTransitions}`, run: { status: string; remainingSinks: number; openSinkBuckets?: string[]; failedSteps?: string[] }): boolean {
  const from: readonly string[] = name.startsWith('engine:') ? runTransitions[name.slice('engine:'.length) as keyof typeof runTransitions].from : runActionRules[name as RunMove].from;
  const guarded = !name.startsWith('engine:') && runActionRules[name as RunMove].guard === 'noFailedSteps' && run.status === 'blocked' && (run.failedSteps?.length ?? 0) > 0;
  return from.includes(run.status) && !guarded && (name !== 'engine:complete' || !sinksOpen(run));
}
