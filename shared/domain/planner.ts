import { z } from 'zod';
import { analyzeDag, DagError } from './dag';
import { addAmounts, inForce, worstCase, zero, type Budget } from './budgets';
import { describeIssue } from './workflow-definition';
import { maxStepsPerWorkflow, stepSpec, type StepSpec } from './workflow';

/**
 * Planner steps (issue 13 §2; README "Planner steps"): any executing step whose output is
 * `{plan: {steps: [StepSpec…]}}` adds those steps to its run, downstream of itself. The pure
 * half: recognising a plan, checking it against the run, and where its steps go in the graph.
 * The engine half (the write, its effects) is shared/engine/planner.ts.
 */

/** At most this many steps per plan: they are written with the planner's completion in one transaction (DynamoDB holds 100 items). */
export const maxPlanSteps = 40;
/** At most this many dependents of the planner are rewired to wait for the plan (each one item of the same transaction). */
export const maxPlannerDependents = 10;

/** An output that carries a plan: an object with `plan.steps` an array (anything else is an ordinary output). */
const planShape = z.looseObject({ plan: z.looseObject({ steps: z.array(z.unknown()) }) });
/** An `llm` step's output keeps its parsed JSON reply under `json` (shared/executors/llm.ts). */
const llmPlanShape = z.looseObject({ json: planShape });

/** The plan in a step's output (or in an `llm` step's JSON reply), unchecked; undefined when the output is not a plan. */
export const planIn = (output: unknown): unknown[] | undefined => {
  const parsed = planShape.safeParse(output);
  if (parsed.success) return parsed.data.plan.steps;
  const reply = llmPlanShape.safeParse(output);
  return reply.success ? reply.data.json.plan.steps : undefined;
};

/** A plan the engine refuses: the planner step fails with code INVALID_PLAN and this message (which names the field or the steps at fault). */
export class PlanError extends Error {
  override name = 'PlanError';
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

/** What the run looks like to a plan: its steps (id, status, dependents), its size and its guards. */
export interface PlanContext {
  plannerId: string;
  /** The planner's dependents as read (they will wait for the plan's last steps). */
  plannerDependents: string[];
  /** Every step of the run by id, with its status. */
  steps: ReadonlyMap<string, { status: string }>;
  totalSteps: number;
  budget?: Budget;
  maxExecutedSteps?: number;
}

/** A checked plan and where it goes: every step's dependencies inside the plan and outside it. */
export interface CheckedPlan {
  specs: StepSpec[];
  /** Each added step's dependencies outside the plan (the planner, finished steps of the run): already satisfied. */
  outside: Record<string, string[]>;
  /** Added steps that wait for no other added step: queued with the planner's completion. */
  entries: string[];
  /** Added steps no other added step waits for: the planner's dependents wait for these instead of the planner. */
  exits: string[];
  /** For each added step, the added steps that wait for it. */
  dependents: Record<string, string[]>;
}

const where = 'output.plan.steps';

/**
 * Checks a plan against its run: every step a valid StepSpec (`done`, which only imports mean, is
 * refused), ids unique in the run, dependencies only on the plan's own steps, the planner or
 * finished steps of the run, no cycle, within the plan and run size limits, the run's
 * maxExecutedSteps and its budget's limits. Throws PlanError; nothing about the run changes.
 * Added steps with no `dependsOn` depend on the planner.
 */
export function checkPlan(raw: unknown[], context: PlanContext): CheckedPlan {
  if (raw.length > maxPlanSteps) throw new PlanError(`${where}: a plan adds at most ${maxPlanSteps} steps (this one has ${raw.length})`, where);
  if (context.plannerDependents.length > maxPlannerDependents) {
    throw new PlanError(`${where}: a planner may have at most ${maxPlannerDependents} dependents to wait for its plan (this one has ${context.plannerDependents.length})`, where);
  }
  const specs = raw.map((entry, index) => {
    const parsed = stepSpec.safeParse(entry);
    if (!parsed.success) {
      const { field, message } = describeIssue(parsed.error.issues[0]!);
      const path = field.replace(/^body/, `${where}[${index}]`);
      throw new PlanError(`${path}: ${message}`, path);
    }
    if (parsed.data.loop) throw new PlanError(`${where}[${index}].loop: loops are declared in workflows; a plan's steps cannot loop`, `${where}[${index}].loop`);
    if (parsed.data.done) throw new PlanError(`${where}[${index}].done: an added step runs; only imported plans mark steps done`, `${where}[${index}].done`);
    return parsed.data.dependsOn.length ? parsed.data : { ...parsed.data, dependsOn: [context.plannerId] };
  });
  const ids = new Set(specs.map((spec) => spec.id));
  specs.forEach((spec, index) => {
    if (context.steps.has(spec.id)) throw new PlanError(`${where}[${index}].id: step id "${spec.id}" is already a step of this run`, `${where}[${index}].id`);
  });
  const total = context.totalSteps + specs.length;
  if (total > maxStepsPerWorkflow) throw new PlanError(`${where}: the run would have ${total} steps; a run holds at most ${maxStepsPerWorkflow}`, where);
  if (context.maxExecutedSteps !== undefined && total > context.maxExecutedSteps) {
    throw new PlanError(`${where}: the run would have ${total} steps, more than its limits.maxExecutedSteps (${context.maxExecutedSteps}) lets execute`, where);
  }
  const outside: Record<string, string[]> = {};
  specs.forEach((spec, index) => {
    outside[spec.id] = spec.dependsOn.filter((id) => !ids.has(id));
    for (const id of outside[spec.id]!) {
      const field = `${where}[${index}].dependsOn`;
      if (id === context.plannerId) continue;
      const existing = context.steps.get(id);
      if (!existing) throw new PlanError(`${field}: step "${spec.id}" depends on "${id}", which is neither a step of this run nor of the plan`, field);
      if (existing.status !== 'completed') {
        throw new PlanError(`${field}: step "${spec.id}" depends on "${id}", which is ${existing.status}; an added step may depend only on the planner, finished steps and the plan's own steps`, field);
      }
    }
  });
  // The graph inside the plan (dependencies outside it are satisfied already).
  let dag;
  try {
    dag = analyzeDag(specs.map((spec) => ({ id: spec.id, dependsOn: spec.dependsOn.filter((id) => ids.has(id)) })));
  } catch (error) {
    if (error instanceof DagError) throw new PlanError(`${where}: ${error.message}`, error.field?.replace(/^body\.steps/, where) ?? where);
    throw error;
  }
  checkBudget(specs, context.budget);
  return { specs, outside, entries: dag.roots, exits: dag.sinks, dependents: dag.dependents };
}

/** The plan's declared worst case (README "Budgets") must fit the run's strict budget limits; spend already made is checked again at each claim. */
function checkBudget(specs: StepSpec[], budget: Budget | undefined): void {
  if (!inForce(budget) || budget.mode !== 'strict') return;
  const worst = specs.reduce((sum, spec) => addAmounts(sum, worstCase(spec)), zero);
  const over = (budget.tokens !== undefined && worst.tokens > budget.tokens) || (budget.usd !== undefined && worst.usd > budget.usd);
  if (over) throw new PlanError(`${where}: the plan's worst case (${worst.tokens} tokens, $${worst.usd}) exceeds the run's strict budget (${budget.tokens ?? '-'} tokens, $${budget.usd ?? '-'})`, where);
}
