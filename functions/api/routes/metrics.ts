import { z } from 'zod';
import { inForce, monthOf } from '#shared/domain/budgets';
import { NotFoundError } from '#shared/domain/errors';
import { prometheusContentType, renderProjectMetrics } from '#shared/domain/prometheus';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

/** The project's operating counters for Prometheus (issue 14 §6). */
export const metricsOperations = ({ projects, projectCounters, engine }: ApiDeps): Operation[] => [
  operation({
    operationId: 'getProjectMetrics',
    method: 'GET',
    path: '/v1/projects/{projectId}/metrics',
    summary: 'The project\'s runs and steps by status entered, usage totals (tokens, USD, AWS cost) and this month\'s budget spend, in the Prometheus text format (0.0.4)',
    tag: 'projects',
    access: { project: 'viewer' },
    params: projectPath,
    responses: {
      200: {
        description: 'Prometheus text exposition format: counters kept as the engine writes (three reads, whatever the project holds)',
        contentType: prometheusContentType,
        schema: z.string().meta({ description: 'Prometheus text format 0.0.4: `# HELP`, `# TYPE` and one sample per line, e.g. `baton_runs_total{status="completed"} 3`' }),
      },
    },
    handler: async ({ params }) => {
      const project = await projects.get(params.projectId);
      if (!project) throw new NotFoundError('Project');
      const period = monthOf(engine.clock());
      const monthly = project.settings.budgets?.monthly;
      const [counters, ledger] = await Promise.all([projectCounters.read(params.projectId), engine.store.budgets.read({ projectId: params.projectId, month: period })]);
      const limits = inForce(monthly) ? { ...(monthly.usd !== undefined ? { limitUsd: monthly.usd } : {}), ...(monthly.tokens !== undefined ? { limitTokens: monthly.tokens } : {}) } : {};
      const text = renderProjectMetrics(counters, { period, spentUsd: ledger?.spent.usd ?? 0, spentTokens: ledger?.spent.tokens ?? 0, ...limits });
      return { status: 200, body: text };
    },
  }),
];
