import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, Route, Router, Switch, useLocation } from 'wouter';
import { useHashLocation } from 'wouter/use-hash-location';
import { ApiError, createApi, type WhoAmI } from './api';
import { can, SessionContext, type Session } from './context';
import { AdminPage } from './pages/admin';
import { QueuesPage } from './pages/queues';
import { MetricsPage } from './pages/metrics';
import { ComparePage } from './pages/compare';
import { EventsPage } from './pages/events';
import { ImportPage } from './pages/import';
import { InboxPage } from './pages/inbox';
import { ProjectPicker } from './pages/project-picker';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { SignIn } from './pages/sign-in';
import { WorkflowPage, WorkflowsPage } from './pages/workflows';
import { TriggersPage } from './pages/triggers';
import { forgetProject, forgetSession, loadConfig, savedProject, savedToken, saveProject, saveToken, type ConsoleConfig } from './session';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 401/403/404 will not get better by asking again.
      retry: (failures, error) => failures < 2 && !(error instanceof ApiError && error.status < 500),
      refetchOnWindowFocus: true,
    },
  },
});

type Boot = { state: 'loading' } | { state: 'failed'; message: string } | { state: 'ready'; config: ConsoleConfig };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: 'loading' });
  const [signedIn, setSignedIn] = useState<{ token: string; whoami: WhoAmI; projectId: string } | null>(null);
  // An installation token signed in, choosing its project.
  const [picking, setPicking] = useState<{ token: string; whoami: WhoAmI } | null>(null);

  useEffect(() => {
    loadConfig().then(
      async (config) => {
        setBoot({ state: 'ready', config });
        // A reload in the same tab keeps the session (sessionStorage survives reloads, not the tab).
        const token = savedToken();
        if (!token) return;
        try {
          const whoami = await createApi(config.apiUrl, token).whoami();
          const projectId = whoami.kind === 'project' ? whoami.projectId : savedProject();
          if (projectId) setSignedIn({ token, whoami, projectId });
          else setPicking({ token, whoami });
        } catch {
          forgetSession();
        }
      },
      (error: unknown) => setBoot({ state: 'failed', message: error instanceof Error ? error.message : String(error) }),
    );
  }, []);

  const session = useMemo<Session | null>(() => {
    if (boot.state !== 'ready' || !signedIn) return null;
    return {
      api: createApi(boot.config.apiUrl, signedIn.token),
      apiUrl: boot.config.apiUrl,
      whoami: signedIn.whoami,
      projectId: signedIn.projectId,
      role: signedIn.whoami.role,
      signOut: () => {
        forgetSession();
        queryClient.clear();
        setSignedIn(null);
      },
      ...(signedIn.whoami.kind === 'installation'
        ? {
            switchProject: () => {
              forgetProject();
              queryClient.clear();
              setPicking({ token: signedIn.token, whoami: signedIn.whoami });
              setSignedIn(null);
            },
          }
        : {}),
    };
  }, [boot, signedIn]);

  if (boot.state === 'loading') return <p className="boot">Loading…</p>;
  if (boot.state === 'failed') return <p className="boot error" role="alert">{boot.message}</p>;
  if (picking) {
    return (
      <ProjectPicker
        apiUrl={boot.config.apiUrl}
        token={picking.token}
        onPick={(projectId) => {
          saveProject(projectId);
          setSignedIn({ ...picking, projectId });
          setPicking(null);
        }}
        onSignOut={() => {
          forgetSession();
          setPicking(null);
        }}
      />
    );
  }
  if (!session) {
    return (
      <SignIn
        apiUrl={boot.config.apiUrl}
        onSignedIn={(token, whoami) => {
          saveToken(token);
          if (whoami.kind === 'project') {
            saveProject(whoami.projectId);
            setSignedIn({ token, whoami, projectId: whoami.projectId });
          } else setPicking({ token, whoami });
        }}
      />
    );
  }
  return (
    <QueryClientProvider client={queryClient}>
      <SessionContext.Provider value={session}>
        <Router hook={useHashLocation}>
          <Shell session={session} />
        </Router>
      </SessionContext.Provider>
    </QueryClientProvider>
  );
}

function Shell({ session }: { session: Session }) {
  const [location] = useLocation();
  // A tab is lit on its own pages and on those reached only from it (`also`).
  const tab = (path: string, label: string, also: string[] = []) => (
    <Link href={path} className={[path, ...also].some((prefix) => location === prefix || (prefix !== '/' && location.startsWith(prefix))) ? 'active' : ''}>
      {label}
    </Link>
  );
  return (
    <div className="shell">
      <header className="top">
        <span className="brand">Baton</span>
        <nav>
          {tab('/runs', 'Runs', ['/compare', '/metrics'])}
          {tab('/inbox', 'Inbox')}
          {tab('/events', 'Events')}
          {tab('/workflows', 'Workflows')}
          {tab('/triggers', 'Triggers')}
          {can(session.role, 'editor') && tab('/import', 'Import plan')}
          {can(session.role, 'admin') && tab('/admin', 'Admin')}
          {session.whoami.kind === 'installation' && tab('/queues', 'Queues')}
        </nav>
        <span className="who" data-testid="who">
          {session.switchProject ? (
            <button type="button" className="link" onClick={session.switchProject} title="Pick another project">
              {session.projectId}
            </button>
          ) : (
            session.projectId
          )}{' '}
          · <strong data-testid="role">{session.role}</strong>
          <button type="button" className="link" onClick={session.signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <Switch>
          {/* Keyed by the run: another run's page starts afresh (no step drawer left open from the last one). */}
          <Route path="/runs/:runId">{(params) => <RunPage key={params.runId} runId={params.runId} />}</Route>
          <Route path="/compare/:a/:b">{(params) => <ComparePage key={`${params.a}/${params.b}`} a={params.a} b={params.b} />}</Route>
          <Route path="/inbox" component={InboxPage} />
          <Route path="/events" component={EventsPage} />
          <Route path="/workflows/:workflowId">{(params) => <WorkflowPage workflowId={params.workflowId} />}</Route>
          <Route path="/workflows" component={WorkflowsPage} />
          <Route path="/import" component={ImportPage} />
          <Route path="/triggers" component={TriggersPage} />
          <Route path="/admin" component={AdminPage} />
          <Route path="/queues" component={QueuesPage} />
          <Route path="/metrics" component={MetricsPage} />
          <Route component={RunsPage} />
        </Switch>
      </main>
    </div>
  );
}
