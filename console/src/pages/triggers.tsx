import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import type { CreateTriggerBody, Trigger } from '../api';
import { ErrorText } from '../components/error-text';
import { errorText, formatTime } from '../components/format';
import { can, useSession } from '../context';

type Provider = 'github' | 'gitlab' | 'generic';

/** What starts a trigger's runs, in a line: `github push · acme/app · branch main`, or an EventBridge pattern. */
export function sourceText(source: Trigger['source']): string {
  if (source.type === 'webhook') {
    const { provider, event, filter } = source as { provider?: string; event?: string; filter?: { repository?: string; branch?: string; action?: string } };
    return [`${provider} ${event ?? 'any event'}`, filter?.repository, filter?.branch && `branch ${filter.branch}`, filter?.action && `action ${filter.action}`].filter(Boolean).join(' · ');
  }
  return `EventBridge ${JSON.stringify((source as { pattern?: unknown }).pattern ?? {})}`;
}

/** How the event becomes the run's input. */
const inputText = (input: Trigger['input']): string => {
  const mapping = (input as { mapping?: Record<string, string> } | undefined)?.mapping;
  return mapping ? Object.entries(mapping).map(([key, path]) => `${key} ← ${path}`).join(', ') : 'the whole event';
};

/**
 * The project's triggers (issue 13 §5): what starts runs of which workflow, paused or not, with
 * pause, resume and delete for editors, and a form to create one from a webhook or an EventBridge
 * pattern.
 */
export function TriggersPage() {
  const { api, projectId, role } = useSession();
  const queryClient = useQueryClient();
  const triggers = useQuery({ queryKey: ['triggers', projectId], queryFn: () => api.listTriggers(projectId) });
  const workflows = useQuery({ queryKey: ['workflows', projectId], queryFn: () => api.listWorkflows(projectId) });
  const [error, setError] = useState<string | null>(null);
  const editor = can(role, 'editor');
  const names = new Map((workflows.data ?? []).map((workflow) => [workflow.id, workflow.name]));

  const act = async (change: () => Promise<unknown>) => {
    setError(null);
    try {
      await change();
      await queryClient.invalidateQueries({ queryKey: ['triggers', projectId] });
    } catch (caught) {
      setError(errorText(caught));
    }
  };

  return (
    <div className="triggers">
      <h1>Triggers</h1>
      <p className="muted">Runs started by events: a verified webhook delivery or an event on your EventBridge bus. An event delivered twice starts one run.</p>
      <ErrorText error={triggers.error ?? error} />
      {triggers.data && triggers.data.length === 0 && <p className="muted">No triggers yet.</p>}
      {triggers.data && triggers.data.length > 0 && (
        <table data-testid="triggers">
          <thead>
            <tr>
              <th>name</th>
              <th>starts</th>
              <th>when</th>
              <th>input</th>
              <th>state</th>
              <th>created</th>
              {editor && <th />}
            </tr>
          </thead>
          <tbody>
            {triggers.data.map((trigger) => (
              <tr key={trigger.id} data-trigger-id={trigger.id} data-state={trigger.state}>
                <td>
                  {trigger.name ?? <span className="muted">unnamed</span>}
                  <div className="mono small muted">{trigger.id}</div>
                </td>
                <td>
                  <Link href={`/workflows/${trigger.workflowId}`}>{names.get(trigger.workflowId) ?? trigger.workflowId}</Link>
                  {trigger.version !== undefined && ` v${trigger.version}`}
                </td>
                <td className="small" data-testid="trigger-source">
                  {sourceText(trigger.source)}
                  {trigger.rule && <div className="muted">rule {trigger.rule.name} on bus {trigger.rule.bus}</div>}
                </td>
                <td className="small">{inputText(trigger.input)}</td>
                <td>
                  <span className="badge" data-status={trigger.state === 'ENABLED' ? 'running' : 'paused'}>
                    {trigger.state === 'ENABLED' ? 'enabled' : 'paused'}
                  </span>
                </td>
                <td className="small nowrap">{formatTime(trigger.createdAt)}</td>
                {editor && (
                  <td className="nowrap">
                    {trigger.state === 'ENABLED' ? (
                      <button type="button" className="link" onClick={() => void act(() => api.triggerAction(projectId, trigger.id, 'pause'))}>
                        Pause
                      </button>
                    ) : (
                      <button type="button" className="link" onClick={() => void act(() => api.triggerAction(projectId, trigger.id, 'resume'))}>
                        Resume
                      </button>
                    )}
                    <button type="button" className="link danger" onClick={() => window.confirm(`Delete trigger ${trigger.name ?? trigger.id}?`) && void act(() => api.deleteTrigger(projectId, trigger.id))}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editor && workflows.data && <CreateTrigger workflows={workflows.data} onCreated={() => queryClient.invalidateQueries({ queryKey: ['triggers', projectId] })} />}
    </div>
  );
}

/** A JSON object typed in a text area; the error names the field. */
function parseObject(text: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${field} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${field} must be a JSON object`);
  return value as Record<string, unknown>;
}

function CreateTrigger({ workflows, onCreated }: { workflows: { id: string; name: string }[]; onCreated: () => Promise<void> }) {
  const { api, projectId } = useSession();
  const [name, setName] = useState('');
  const [workflowId, setWorkflowId] = useState(workflows[0]?.id ?? '');
  const [type, setType] = useState<'webhook' | 'eventbridge'>('webhook');
  const [provider, setProvider] = useState<Provider>('github');
  const [event, setEvent] = useState('push');
  const [filter, setFilter] = useState({ repository: '', branch: '', action: '' });
  const [pattern, setPattern] = useState('{"source": ["acme.orders"]}');
  const [mapping, setMapping] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setError(null);
    setDone(null);
    setBusy(true);
    try {
      const given = Object.fromEntries(Object.entries(filter).filter(([, value]) => value.trim()).map(([key, value]) => [key, value.trim()]));
      const source: CreateTriggerBody['source'] =
        type === 'webhook'
          ? { type, provider, ...(event.trim() ? { event: event.trim() } : {}), ...(Object.keys(given).length ? { filter: given } : {}) }
          : { type, pattern: parseObject(pattern, 'The event pattern') };
      const body: CreateTriggerBody = {
        workflowId,
        source,
        ...(name.trim() ? { name: name.trim() } : {}),
        ...(mapping.trim() ? { input: { mapping: parseObject(mapping, 'The input mapping') as Record<string, string> } } : {}),
      };
      const created = await api.createTrigger(projectId, body);
      setDone(`Created trigger ${created.id}${created.rule ? ` (rule ${created.rule.name} on bus ${created.rule.bus})` : ''}.`);
      setName('');
      await onCreated();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  if (workflows.length === 0) return <p className="muted">Save a workflow first: a trigger starts runs of one.</p>;
  return (
    <form
      className="card trigger-form"
      aria-label="Create a trigger"
      onSubmit={(submitted) => {
        submitted.preventDefault();
        void submit();
      }}
    >
      <h3>Create a trigger</h3>
      <div className="inline-form">
        <label>
          Name
          <input name="triggerName" value={name} maxLength={100} onChange={(change) => setName(change.target.value)} placeholder="build main" />
        </label>
        <label>
          Workflow
          <select name="workflowId" value={workflowId} onChange={(change) => setWorkflowId(change.target.value)}>
            {workflows.map((workflow) => (
              <option key={workflow.id} value={workflow.id}>
                {workflow.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Started by
          <select name="sourceType" value={type} onChange={(change) => setType(change.target.value as 'webhook' | 'eventbridge')}>
            <option value="webhook">a webhook delivery</option>
            <option value="eventbridge">an EventBridge event</option>
          </select>
        </label>
      </div>
      {type === 'webhook' ? (
        <div className="inline-form">
          <label>
            Provider
            <select name="provider" value={provider} onChange={(change) => setProvider(change.target.value as Provider)}>
              <option value="github">github</option>
              <option value="gitlab">gitlab</option>
              <option value="generic">generic</option>
            </select>
          </label>
          <label>
            Event
            <input name="event" value={event} onChange={(change) => setEvent(change.target.value)} placeholder="any" />
          </label>
          {(['repository', 'branch', 'action'] as const).map((key) => (
            <label key={key}>
              {key}
              <input name={key} value={filter[key]} onChange={(change) => setFilter({ ...filter, [key]: change.target.value })} placeholder="any" />
            </label>
          ))}
        </div>
      ) : (
        <label>
          Event pattern (JSON)
          <textarea name="pattern" rows={3} spellCheck={false} value={pattern} onChange={(change) => setPattern(change.target.value)} />
        </label>
      )}
      <label>
        Input mapping (JSON, optional: the whole event when empty), e.g. {'{"sha": "$.delivery.sha"}'}
        <textarea name="mapping" rows={2} spellCheck={false} value={mapping} onChange={(change) => setMapping(change.target.value)} />
      </label>
      <div className="actions">
        <button type="submit" disabled={busy || !workflowId}>
          Create trigger
        </button>
      </div>
      {done && (
        <p className="ok small" role="status">
          {done}
        </p>
      )}
      <ErrorText error={error} />
    </form>
  );
}
