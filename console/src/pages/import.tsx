import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { Dag, type DagNode } from '../components/dag';
import { ErrorText } from '../components/error-text';
import { errorText } from '../components/format';
import { useSession } from '../context';

interface Preview {
  name: string;
  nodes: DagNode[];
  done: number;
  gated: number;
}

/**
 * Plan CSV import: the file is checked and drawn in the browser with the same rules the API
 * applies (shared/domain/plan-csv.ts, loaded on demand), so a cycle or a missing day shows up
 * with its row before anything is saved. Saving sends the same text to the import route.
 */
export function ImportPage() {
  const { api, projectId } = useSession();
  const queryClient = useQueryClient();
  const [csv, setCsv] = useState('');
  const [name, setName] = useState('');
  const [dateGating, setDateGating] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<{ id: string; version: number; steps: number } | null>(null);
  const [busy, setBusy] = useState(false);

  const options = () => ({ ...(name.trim() ? { name: name.trim() } : {}), ...(dateGating ? { dateGating: true } : {}) });

  const showPreview = async () => {
    setError(null);
    setSaved(null);
    setPreview(null);
    try {
      const { parsePlanCsv } = await import('#shared/domain/plan-csv');
      const plan = parsePlanCsv(csv, options());
      setPreview({
        name: plan.name,
        nodes: plan.steps.map((step) => ({ id: step.id, kind: step.kind, dependsOn: step.dependsOn ?? [], ...(step.done ? { status: 'completed' } : {}) })),
        done: plan.steps.filter((step) => step.done).length,
        gated: plan.steps.filter((step) => step.notBefore).length,
      });
    } catch (caught) {
      setError(errorText(caught));
    }
  };

  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      setSaved(await api.importPlan(projectId, csv, options()));
      await queryClient.invalidateQueries({ queryKey: ['workflows'] });
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div>
      <h1>Import a plan</h1>
      <p className="muted">
        A CSV with the columns Day, Date, Theme, VOT Name, Primary Deliverable, Key Metrics (template), Status, Dependencies (Day #). Preview it, then save it as a workflow.
      </p>
      <div className="import-form">
        <label>
          CSV file
          <input
            type="file"
            name="file"
            accept=".csv,text/csv"
            onChange={(event) => {
              const file = event.target.files?.[0];
              if (file) void file.text().then((text) => (setCsv(text), setPreview(null)));
            }}
          />
        </label>
        <label>
          or paste it
          <textarea name="csv" rows={8} spellCheck={false} value={csv} onChange={(event) => (setCsv(event.target.value), setPreview(null))} />
        </label>
        <label>
          Workflow name
          <input name="name" value={name} onChange={(event) => (setName(event.target.value), setPreview(null))} placeholder="Imported plan" />
        </label>
        <label className="inline">
          <input type="checkbox" name="dateGating" checked={dateGating} onChange={(event) => (setDateGating(event.target.checked), setPreview(null))} /> Gate each step on its Date
        </label>
        <div className="actions">
          <button type="button" disabled={!csv.trim()} onClick={() => void showPreview()}>
            Preview
          </button>
          <button type="button" disabled={!preview || busy} onClick={() => void save()}>
            Save workflow
          </button>
        </div>
      </div>
      <ErrorText error={error} />
      {saved && (
        <p className="ok" role="status">
          Saved {saved.steps} steps as <Link href={`/workflows/${saved.id}`}>version {saved.version}</Link>.
        </p>
      )}
      {preview && (
        <section data-testid="import-preview">
          <h2>
            {preview.name}: {preview.nodes.length} steps
          </h2>
          <p className="muted small">
            {preview.done} already done · {preview.gated} gated on their date
          </p>
          <Dag nodes={preview.nodes} />
        </section>
      )}
    </div>
  );
}
