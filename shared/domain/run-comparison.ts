import { jsonDiff } from './json-diff';
import type { RunStatus, StepStatus } from './states';

/** What a comparison reads of a run and of a step (the stored records satisfy it). */
interface ComparedRun {
  id: string;
  status: RunStatus;
  workflowId: string;
  workflowVersion: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  forkedFrom?: { runId: string; stepId: string };
}
interface ComparedStep {
  stepId: string;
  status: StepStatus;
  attempt: number;
  generation?: number;
  startedAt?: string;
  finishedAt?: string;
  output?: unknown;
  outputRef?: string;
  reusedFrom?: { runId: string; generation: number };
  agentUsage?: { tokens?: { input?: number; output?: number }; costUsd?: number };
  llmUsage?: { inputTokens: number; outputTokens: number; costUsd: number }[];
}

const money = (usd: number) => Math.round(usd * 1e9) / 1e9;
const span = (from: string | undefined, to: string | undefined) => (from && to ? Math.max(0, Date.parse(to) - Date.parse(from)) : undefined);

/** A step's side: what it did in its run, what it took and what it cost (model calls and agents' reported usage). */
function side(step: ComparedStep) {
  const tokens = { input: step.agentUsage?.tokens?.input ?? 0, output: step.agentUsage?.tokens?.output ?? 0 };
  let costUsd = step.agentUsage?.costUsd ?? 0;
  for (const call of step.llmUsage ?? []) {
    tokens.input += call.inputTokens;
    tokens.output += call.outputTokens;
    costUsd += call.costUsd;
  }
  // A reused step did not run in this run: its time and spend belong to the run it came from.
  const durationMs = step.reusedFrom ? undefined : span(step.startedAt, step.finishedAt);
  return {
    status: step.status,
    generation: step.generation ?? 1,
    attempt: step.attempt,
    reused: Boolean(step.reusedFrom),
    ...(durationMs !== undefined ? { durationMs } : {}),
    tokens,
    costUsd: money(costUsd),
  };
}
type Side = ReturnType<typeof side>;

function totals(run: ComparedRun, sides: Side[]) {
  const durationMs = span(run.startedAt ?? run.createdAt, run.finishedAt);
  return {
    id: run.id,
    status: run.status,
    workflowId: run.workflowId,
    workflowVersion: run.workflowVersion,
    ...(run.forkedFrom ? { forkedFrom: run.forkedFrom } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    tokens: { input: sides.reduce((sum, entry) => sum + entry.tokens.input, 0), output: sides.reduce((sum, entry) => sum + entry.tokens.output, 0) },
    costUsd: money(sides.reduce((sum, entry) => sum + entry.costUsd, 0)),
    executedSteps: sides.filter((entry) => entry.attempt > 0 && !entry.reused).length,
    reusedSteps: sides.filter((entry) => entry.reused).length,
  };
}

/**
 * Two runs side by side (issue 12 §4): per step (in the first run's order, then steps only the
 * second has) each side's status, generation, duration, tokens and cost, and where the outputs
 * differ (`jsonDiff`; an output kept in S3 is loaded through `load`); then each run's totals and
 * the difference b − a. Outputs of one S3 object (a fork's reused step) are equal unread.
 */
export async function compareRuns(a: { run: ComparedRun; steps: ComparedStep[] }, b: { run: ComparedRun; steps: ComparedStep[] }, load: (outputRef: string) => Promise<unknown>) {
  const ids = [...new Set([...a.steps.map((step) => step.stepId), ...b.steps.map((step) => step.stepId)])];
  const outputOf = (step: ComparedStep | undefined) => (step?.outputRef ? load(step.outputRef) : Promise.resolve(step?.output));
  const steps = await Promise.all(
    ids.map(async (stepId) => {
      const left = a.steps.find((step) => step.stepId === stepId);
      const right = b.steps.find((step) => step.stepId === stepId);
      const sameObject = Boolean(left?.outputRef && left.outputRef === right?.outputRef);
      const output = sameObject ? { equal: true, changes: [] } : jsonDiff(await outputOf(left), await outputOf(right));
      return { stepId, ...(left ? { a: side(left) } : {}), ...(right ? { b: side(right) } : {}), output };
    }),
  );
  const totalA = totals(a.run, steps.flatMap((step) => (step.a ? [step.a] : [])));
  const totalB = totals(b.run, steps.flatMap((step) => (step.b ? [step.b] : [])));
  return {
    a: totalA,
    b: totalB,
    changedSteps: steps.filter((step) => !step.output.equal || step.a?.status !== step.b?.status).map((step) => step.stepId),
    steps,
    difference: {
      ...(totalA.durationMs !== undefined && totalB.durationMs !== undefined ? { durationMs: totalB.durationMs - totalA.durationMs } : {}),
      tokens: { input: totalB.tokens.input - totalA.tokens.input, output: totalB.tokens.output - totalA.tokens.output },
      costUsd: money(totalB.costUsd - totalA.costUsd),
    },
  };
}
