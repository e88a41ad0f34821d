import { runStatuses, stepStatuses, type ProjectCounters } from './project-counters';

/** The content type of Prometheus' text exposition format. */
export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

/** One calendar month's project budget (the month ledger), when the project keeps one. */
export interface MonthSpend {
  /** YYYY-MM (UTC). */
  period: string;
  spentUsd: number;
  spentTokens: number;
  limitUsd?: number;
  limitTokens?: number;
}

type Sample = { labels?: Record<string, string>; value: number };
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Sample[];
}

// Label values: backslash, double quote and line feed escaped (the format's only escapes).
const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
// HELP text: backslash and line feed escaped.
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
// Go's float syntax as Prometheus parses it; JavaScript's shortest round-trip form (1e-7, 0.25) is one.
const formatValue = (value: number) => (Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN');

const line = (name: string, { labels, value }: Sample) => {
  const pairs = Object.entries(labels ?? {}).map(([key, label]) => `${key}="${escapeLabel(label)}"`);
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`;
};

const render = (families: Family[]): string =>
  families.map((family) => [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`, ...family.samples.map((sample) => line(family.name, sample))].join('\n')).join('\n') + '\n';

/** Every status listed first (zero until entered), then any other the counters hold, in order. */
const byStatus = (known: readonly string[], counted: Record<string, number>): Sample[] =>
  [...known, ...Object.keys(counted).filter((status) => !known.includes(status)).sort()].map((status) => ({ labels: { status }, value: counted[status] ?? 0 }));

/**
 * A project's counters and its month's budget spend in the Prometheus text format (0.0.4):
 * `_total` counters only grow (a scrape's rate() is meaningful); the budget spend is a gauge per
 * month (`period`), which starts again at 0 in a new month. No run or step ids in labels.
 */
export function renderProjectMetrics(counters: ProjectCounters, month: MonthSpend): string {
  const period = { period: month.period };
  const families: Family[] = [
    { name: 'baton_runs_total', type: 'counter', help: 'Runs that entered each status (every recorded transition: a run resumed after a block enters running again).', samples: byStatus(runStatuses, counters.runs) },
    { name: 'baton_steps_total', type: 'counter', help: 'Steps that entered each status (every recorded transition: a retry enters queued again, a takeover running).', samples: byStatus(stepStatuses, counters.steps) },
    {
      name: 'baton_tokens_total',
      type: 'counter',
      help: 'Model tokens used by the steps (their usage records, or the totals an agent reported).',
      samples: [
        { labels: { direction: 'input' }, value: counters.inputTokens },
        { labels: { direction: 'output' }, value: counters.outputTokens },
      ],
    },
    { name: 'baton_usage_usd_total', type: 'counter', help: 'What the steps\' model calls cost in USD, as their usage records (or agents) say: what budgets count.', samples: [{ value: counters.usageUsd }] },
    { name: 'baton_aws_cost_usd_total', type: 'counter', help: 'What Baton\'s AWS requests for the runs cost at list prices (DynamoDB, SQS, EventBridge, S3, Lambda invocations): the run views\' usage.cost, summed.', samples: [{ value: counters.awsCostUsd }] },
    { name: 'baton_lambda_compute_usd_total', type: 'counter', help: 'Baton\'s own Lambda compute for the runs (handler time x memory, arm64 list price), priced apart as the run views do.', samples: [{ value: counters.lambdaComputeUsd }] },
    { name: 'baton_budget_spend_usd', type: 'gauge', help: 'What the project\'s runs spent this calendar month (UTC) by its monthly budget ledger (0 while no monthly budget is in force).', samples: [{ labels: period, value: month.spentUsd }] },
    { name: 'baton_budget_spend_tokens', type: 'gauge', help: 'Tokens the project\'s runs spent this calendar month (UTC) by its monthly budget ledger.', samples: [{ labels: period, value: month.spentTokens }] },
  ];
  if (month.limitUsd !== undefined) families.push({ name: 'baton_budget_limit_usd', type: 'gauge', help: 'The project\'s monthly budget in USD.', samples: [{ labels: period, value: month.limitUsd }] });
  if (month.limitTokens !== undefined) families.push({ name: 'baton_budget_limit_tokens', type: 'gauge', help: 'The project\'s monthly budget in tokens.', samples: [{ labels: period, value: month.limitTokens }] });
  return render(families);
}
