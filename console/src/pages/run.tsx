import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { finalRunStatuses, type Api, type RunDetail, type RunEvent, type StepSummary } from '../api';
import { Dag } from '../components/dag';
import { ErrorText } from '../components/error-text';
import { EventLog } from '../components/event-log';
import { errorText, formatDuration, formatTime, formatUsd } from '../components/format';
import { BlockedReason } from '../components/blocked-reason';
import { BudgetsCard } from '../components/budgets-card';
import { ForkPanel } from '../components/fork-panel';
import { LimitsCard } from '../components/limits-card';
import { MapBlocked, MapProgress, mapOfChild, mapsBlocking } from '../components/map-step';
import { graphLimit, StepPages } from '../components/step-pages';
import { PlannedLegend } from '../components/planned';
import { GateWaits } from '../components/quality-gate';
import { RetryPanel } from '../components/retry-panel';
import { StatusBadge } from '../components/status';
import { StepDrawer } from '../components/step-drawer';
import { CapacityWaits, throttleLimit } from '../components/throttle';
import { Timeline } from '../components/timeline';
import { can, useSession } from '../context';
import { backoff } from '../polling';

const isFinal = (run: RunDetail) => finalRunStatuses.includes(run.status);
/** The whole history, oldest first, for the timeline and the log (bounded: a run's history is finite). */
const maxEvents = 5000;
/** A big run's page shows only its latest events (its steps are listed a page at a time). */
const bigRunEvents = 500;
/** A run's own steps fit in one or two pages; a map's 10,000 children add ten more. */
const maxStepPages = 12;

/** The run's own steps, every page of the listing, without map children (the map's drawer pages those). */
async function loadSteps(api: Api, runId: string): Promise<StepSummary[]> {
  const steps: StepSummary[] = [];
  const maps = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await api.listStepsPage(runId, { limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const step of page.items) {
      // Step-id order puts a map before its children (`fan` < `fan[000000]`).
      if (mapOfChild(step.id, maps)) continue;
      if (step.kind === 'map') maps.add(step.id);
      steps.push(step);
    }
    cursor = page.cursor;
    pages += 1;
  } while (cursor && pages < maxStepPages);
  return steps;
}

/** One run: its state, its DAG, a timeline, the event log, usage and cost, and the actions the role allows. */
export function RunPage({ runId }: { runId: string }) {
  const { api, role } = useSession();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState<string | undefined>();
  const [retrying, setRetrying] = useState(false);
  // The fork form, open at a step (or at the first one).
  const [forking, setForking] = useState<{ fromStep?: string } | null>(null);
  const [comparing, setComparing] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = useQuery({ queryKey: ['run', runId], queryFn: () => api.getRun(runId), refetchInterval: backoff<RunDetail>(isFinal) });
  const final = run.data ? isFinal(run.data) : false;
  const total = run.data?.steps.total;
  // A big run is listed a page at a time, never drawn (StepPages).
  const big = total !== undefined && total > graphLimit;
  // Steps and events follow the run: they keep polling until the run is final and then once more.
  const steps = useQuery({ queryKey: ['steps', runId], queryFn: () => loadSteps(api, runId), enabled: total !== undefined && !big, refetchInterval: final ? false : backoff() });
  const events = useQuery({
    queryKey: ['events', runId, big],
    enabled: total !== undefined,
    queryFn: async () => {
      if (big) return (await api.listEvents(runId, { order: 'desc', limit: bigRunEvents })).items.reverse();
      const all: RunEvent[] = [];
      let cursor: string | undefined;
      do {
        const page = await api.listEvents(runId, { order: 'asc', limit: 500, ...(cursor ? { cursor } : {}) });
        all.push(...page.items);
        cursor = page.cursor;
      } while (cursor && all.length < maxEvents);
      return all;
    },
    refetchInterval: final ? false : backoff(),
  });
  useEffect(() => {
    // The open drawer's step too: it stops polling once settled, and a retry can settle it again before the run ends.
    if (final)
      void Promise.all(['steps', 'step', 'step-page', 'map-counts', 'map-children'].map((key) => queryClient.invalidateQueries({ queryKey: [key, runId] }))).then(() =>
        queryClient.invalidateQueries({ queryKey: ['events', runId] }),
      );
  }, [final, queryClient, runId]);

  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (final) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [final]);

  const nodes = useMemo(
    () =>
      (steps.data ?? []).map((step) => ({
        id: step.id,
        kind: step.kind,
        dependsOn: step.dependsOn,
        status: step.status,
        ...(step.plannedBy ? { plannedBy: step.plannedBy } : {}),
        ...(step.iteration ? { note: `loop iteration ${step.iteration}` } : {}),
        ...(step.status === 'throttled' && step.throttle ? { note: `${step.throttle.kind === 'rate' ? 'waiting for its turn' : 'waiting for capacity'}: ${throttleLimit(step.throttle)}` } : {}),
        ...(step.status === 'needs_qa' && step.gate ? { note: `quality gate ${step.gate.state}${step.gate.score !== undefined ? `, score ${step.gate.score} (threshold ${step.gate.threshold})` : ''}` } : {}),
      })),
    [steps.data],
  );

  if (run.isError) return <ErrorText error={run.error} />;
  if (!run.data) return <p className="muted">Loading run…</p>;
  const data = run.data;

  const act = async (action: 'pause' | 'resume' | 'cancel') => {
    setBusy(true);
    setActionError(null);
    try {
      await api.runAction(runId, action);
      await queryClient.invalidateQueries({ queryKey: ['run', runId] });
      await queryClient.invalidateQueries({ queryKey: ['steps', runId] });
    } catch (error) {
      setActionError(errorText(error));
    } finally {
      setBusy(false);
    }
  };

  const editor = can(role, 'editor');
  // A blocked run moves no more until someone acts: its timeline ends at its last event instead of stretching.
  const idle = data.status === 'blocked' && Boolean(events.data?.length);
  const lastEventAt = Date.parse(events.data?.at(-1)?.at ?? data.createdAt);
  const cost = data.usage.cost as { totalUsd?: number };
  const agent = data.usage.agentUsage as { tokens?: { input?: number; output?: number }; costUsd?: number };
  const calls = Object.values((data.usage.calls as Record<string, number> | undefined) ?? {}).reduce((sum, count) => sum + count, 0);

  return (
    <div className={`run-page${selected ? ' with-drawer' : ''}`}>
      <section className="run-head">
        <div>
          <p className="crumbs">
            <Link href="/runs">Runs</Link> / <Link href={`/workflows/${data.workflowId}`}>{data.workflowName}</Link> v{data.workflowVersion}
          </p>
          <h1>
            <span className="mono">{data.id}</span> <StatusBadge status={data.status} />
            <span className="sr-only" data-testid="run-status">
              {data.status}
            </span>
          </h1>
          {data.forkedFrom && (
            <p className="muted small" data-testid="forked-from">
              Forked from run{' '}
              <Link href={`/runs/${data.forkedFrom.runId}`} className="mono">
                {data.forkedFrom.runId}
              </Link>{' '}
              at step <span className="mono">{data.forkedFrom.stepId}</span> ·{' '}
              <Link href={`/compare/${data.forkedFrom.runId}/${data.id}`}>compare with it</Link>
            </p>
          )}
          {data.parent && (
            <p className="muted small" data-testid="parent-run">
              A sub-workflow: started by the <span className="mono">workflow</span> step <span className="mono">{data.parent.stepId}</span> of run{' '}
              <Link href={`/runs/${data.parent.runId}`} className="mono">
                {data.parent.runId}
              </Link>
            </p>
          )}
          {/* A map over its tolerance says it once, with what its retry does (MapBlocked). */}
          {!(steps.data && mapsBlocking(data, steps.data).length > 0) && <BlockedReason run={data} events={events.data ?? []} editor={editor} />}
          {steps.data && <MapBlocked run={data} steps={steps.data} />}
          {steps.data && <GateWaits steps={steps.data} onSelect={setSelected} />}
          {steps.data && <CapacityWaits steps={steps.data} now={now} onSelect={setSelected} />}
          <p className="muted">
            {/* A run created with start: false has not started: no duration to tell yet. */}
            created {formatTime(data.createdAt)} ·{' '}
            {data.startedAt || data.finishedAt
              ? `started ${formatTime(data.startedAt)} · ${data.finishedAt ? `finished ${formatTime(data.finishedAt)}` : 'not finished'} · took ${formatDuration(data.startedAt ?? data.createdAt, data.finishedAt)}`
              : 'not started yet'}
          </p>
          {data.tags && Object.keys(data.tags).length > 0 && (
            <p className="tags">
              {Object.entries(data.tags).map(([key, value]) => (
                <span className="tag" key={key}>
                  {key}={value}
                </span>
              ))}
            </p>
          )}
        </div>
        <div className="actions" aria-label="Run actions">
          {editor && (
            <>
              {data.status === 'running' && (
                <button type="button" disabled={busy} onClick={() => void act('pause')}>
                  Pause
                </button>
              )}
              {(data.status === 'paused' || (data.status === 'blocked' && !data.failedSteps?.length)) && (
                <button type="button" disabled={busy} onClick={() => void act('resume')}>
                  Resume
                </button>
              )}
              {data.status === 'blocked' && (
                <button type="button" disabled={busy} onClick={() => setRetrying(true)}>
                  Retry…
                </button>
              )}
              {steps.data && steps.data.length > 0 && (
                <button type="button" disabled={busy} onClick={() => setForking({})}>
                  Fork…
                </button>
              )}
              {['pending', 'running', 'paused', 'blocked'].includes(data.status) && (
                <button type="button" className="danger" disabled={busy} onClick={() => window.confirm('Cancel this run?') && void act('cancel')}>
                  Cancel
                </button>
              )}
            </>
          )}
          <button type="button" className="secondary" onClick={() => setComparing(!comparing)}>
            Compare…
          </button>
        </div>

      </section>
      <ErrorText error={actionError} />
      {comparing && <CompareForm runId={runId} suggested={data.forkedFrom?.runId} onCancel={() => setComparing(false)} />}
      {forking && editor && steps.data && <ForkPanel key={forking.fromStep ?? ''} run={data} steps={steps.data} fromStep={forking.fromStep} onCancel={() => setForking(null)} />}
      {retrying && editor && data.status === 'blocked' && (
        <RetryPanel
          run={data}
          onDone={async () => {
            setRetrying(false);
            await queryClient.invalidateQueries({ queryKey: ['run', runId] });
            await queryClient.invalidateQueries({ queryKey: ['steps', runId] });
          }}
          onCancel={() => setRetrying(false)}
        />
      )}

      <section className="cards">
        <div className="card">
          <h3>Steps</h3>
          <p className="big">{data.steps.total}</p>
          <ul className="counts" data-testid="step-counts">
            {Object.entries(data.steps.byStatus)
              .filter(([, count]) => count)
              .map(([status, count]) => (
                <li key={status}>
                  <StatusBadge status={status} /> {count}
                </li>
              ))}
          </ul>
          {data.steps.children && (
            // Map children are counted apart from the run's own steps (byStatus leaves them out).
            <p className="muted small" data-testid="map-item-counts">
              and {data.steps.children.total.toLocaleString('en-US')} map items: {data.steps.children.done.toLocaleString('en-US')} done ({data.steps.children.succeeded.toLocaleString('en-US')} succeeded,{' '}
              {data.steps.children.failed.toLocaleString('en-US')} failed)
            </p>
          )}
        </div>
        <div className="card">
          <h3>Cost (estimate)</h3>
          <p className="big" data-testid="run-cost">
            {formatUsd((cost.totalUsd ?? 0) + (agent.costUsd ?? 0))}
          </p>
          <p className="muted small">
            AWS {formatUsd(cost.totalUsd)} · agents {formatUsd(agent.costUsd)}
          </p>
        </div>
        <BudgetsCard
          run={data}
          editor={editor && !final}
          onSave={async (budget) => {
            await api.setRunBudget(runId, budget);
            await queryClient.invalidateQueries({ queryKey: ['run', runId] });
          }}
        />
        <LimitsCard
          run={data}
          editor={editor && !final}
          onSave={async (limits) => {
            await api.setRunLimits(runId, limits);
            await queryClient.invalidateQueries({ queryKey: ['run', runId] });
          }}
        />
        <div className="card">
          <h3>Usage</h3>
          <p className="muted small">
            {calls} AWS calls · tokens in {agent.tokens?.input ?? 0} / out {agent.tokens?.output ?? 0}
          </p>
        </div>
      </section>

      <section>
        <h2>Graph</h2>
        {big ? (
          <StepPages run={data} live={!final} onSelect={setSelected} />
        ) : (
          <>
            {steps.data && <PlannedLegend steps={steps.data} onSelect={setSelected} />}
            {steps.data && <MapProgress runId={runId} steps={steps.data} live={!final} onSelect={setSelected} />}
            {steps.data ? <Dag nodes={nodes} selected={selected} onSelect={setSelected} /> : <p className="muted">Loading steps…</p>}
          </>
        )}
      </section>
      {!big && (
        <section>
          <h2>Timeline</h2>
          {steps.data && <Timeline steps={steps.data} events={events.data ?? []} now={final && data.finishedAt ? Date.parse(data.finishedAt) : idle ? lastEventAt : now} />}
        </section>
      )}
      <section>
        <h2>{big ? `Events (the latest ${bigRunEvents})` : 'Events'}</h2>
        <EventLog events={events.data ?? []} onSelectStep={setSelected} />
      </section>
      {selected && (
        <StepDrawer
          runId={runId}
          stepId={selected}
          events={events.data ?? []}
          runFinal={final}
          runStatus={data.status}
          {...(editor ? { onFork: (fromStep: string) => setForking({ fromStep }) } : {})}
          onClose={() => setSelected(undefined)}
        />
      )}
    </div>
  );
}

/** Which run to compare this one with (a run id; a fork suggests its source). */
function CompareForm({ runId, suggested, onCancel }: { runId: string; suggested?: string | undefined; onCancel: () => void }) {
  const [, navigate] = useLocation();
  const [other, setOther] = useState(suggested ?? '');
  return (
    <form
      className="panel inline-form"
      aria-label="Compare runs"
      onSubmit={(event) => {
        event.preventDefault();
        if (other.trim()) navigate(`/compare/${runId}/${other.trim()}`);
      }}
    >
      <label className="grow">
        Compare with run
        <input name="otherRun" value={other} onChange={(event) => setOther(event.target.value)} placeholder="run_…" spellCheck={false} />
      </label>
      <button type="submit" disabled={!other.trim()}>
        Compare
      </button>
      <button type="button" className="link" onClick={onCancel}>
        Close
      </button>
    </form>
  );
}
