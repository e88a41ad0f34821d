import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useLocation } from 'wouter';
import { Dag } from '../components/dag';
import { ErrorText } from '../components/error-text';
import { errorText, formatTime } from '../components/format';
import { can, useSession } from '../context';

/** The project's workflows (latest versions) with their step counts. */
export function WorkflowsPage() {
  const { api, projectId } = useSession();
  const workflows = useQuery({ queryKey: ['workflows', projectId], queryFn: () => api.listWorkflows(projectId) });
  return (
    <div>
      <h1>Workflows</h1>
      <ErrorText error={workflows.error} />
      <table data-testid="workflows">
        <thead>
          <tr>
            <th>name</th>
            <th>version</th>
            <th>steps</th>
            <th>id</th>
            <th>updated</th>
          </tr>
        </thead>
        <tbody>
          {workflows.data?.map((workflow) => (
            <tr key={workflow.id}>
              <td>
                <Link href={`/workflows/${workflow.id}`}>{workflow.name}</Link>
              </td>
              <td>v{workflow.version}</td>
              <td>{workflow.steps}</td>
              <td className="mono small">{workflow.id}</td>
              <td>{formatTime(workflow.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {workflows.data?.length === 0 && <p className="muted">No workflow yet: import a plan or POST one to the API.</p>}
    </div>
  );
}

/** One workflow: its DAG, its steps, and (for editors) a button that starts a run. */
export function WorkflowPage({ workflowId }: { workflowId: string }) {
  const { api, projectId, role } = useSession();
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const workflow = useQuery({ queryKey: ['workflow', projectId, workflowId], queryFn: () => api.getWorkflow(projectId, workflowId) });
  if (workflow.isError) return <ErrorText error={workflow.error} />;
  if (!workflow.data) return <p className="muted">Loading workflow…</p>;
  const data = workflow.data;
  const start = async () => {
    setError(null);
    try {
      const run = await api.createRun(projectId, workflowId);
      await queryClient.invalidateQueries({ queryKey: ['runs'] });
      navigate(`/runs/${run.id}`);
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  return (
    <div>
      <p className="crumbs">
        <Link href="/workflows">Workflows</Link>
      </p>
      <h1>
        {data.name} <span className="muted">v{data.version}</span>
      </h1>
      {data.description && <p>{data.description}</p>}
      <p className="muted small">
        {data.steps.length} steps · <span className="mono">{data.id}</span> · saved {formatTime(data.createdAt)}
      </p>
      {can(role, 'editor') && (
        <div className="actions">
          <button type="button" onClick={() => void start()}>
            Start a run
          </button>
        </div>
      )}
      <ErrorText error={error} />
      <Dag nodes={data.steps.map((step) => ({ id: step.id, kind: step.kind, dependsOn: step.dependsOn ?? [] }))} />
    </div>
  );
}
