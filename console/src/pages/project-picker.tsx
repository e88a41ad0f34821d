import { useEffect, useState } from 'react';
import { createApi, type Project } from '../api';
import { ErrorText } from '../components/error-text';
import { errorText, formatTime } from '../components/format';

/**
 * The installation token belongs to no project: it picks one from GET /v1/projects (oldest
 * first, a page at a time), or opens one by id.
 */
export function ProjectPicker({ apiUrl, token, onPick, onSignOut }: { apiUrl: string; token: string; onPick: (projectId: string) => void; onSignOut: () => void }) {
  const [projects, setProjects] = useState<Project[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [byId, setById] = useState('');

  const load = async (after: string | undefined) => {
    setBusy(true);
    setError(null);
    try {
      const page = await createApi(apiUrl, token).listProjects(after);
      setProjects((shown) => (after ? [...shown, ...page.items] : page.items));
      setCursor(page.cursor);
      setLoaded(true);
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  /** A project named by id is read first, so a mistyped id is an error here, not a broken console. */
  const openById = async () => {
    setBusy(true);
    setError(null);
    try {
      onPick((await createApi(apiUrl, token).getProject(byId.trim())).id);
    } catch (caught) {
      setError(errorText(caught));
      setBusy(false);
    }
  };
  // The first page, once per token.
  useEffect(() => {
    void load(undefined);
  }, [token]);

  return (
    <div className="sign-in">
      <section className="picker" aria-label="Pick a project">
        <h1>Baton</h1>
        <p className="muted">You signed in with the installation token. Pick the project to open.</p>
        <ErrorText error={error} />
        {loaded && projects.length === 0 && (
          <p className="muted" data-testid="no-projects">
            No project yet. Create one with <code>POST /v1/projects</code> (see the README); its admin token opens it here.
          </p>
        )}
        {projects.length > 0 && (
          <ul className="projects" data-testid="projects">
            {projects.map((project) => (
              <li key={project.id} data-project-id={project.id}>
                <button type="button" className="project" onClick={() => onPick(project.id)}>
                  <strong>{project.name}</strong>
                  <span className="mono small muted">{project.id}</span>
                  <span className="small muted">created {formatTime(project.createdAt)}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {!loaded && !error && <p className="muted">Loading projects…</p>}
        {cursor && (
          <button type="button" className="link" disabled={busy} onClick={() => void load(cursor)}>
            More projects
          </button>
        )}
        <form
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            void openById();
          }}
        >
          <input name="projectId" value={byId} onChange={(event) => setById(event.target.value)} placeholder="prj_…" aria-label="Project id" />
          <button type="submit" disabled={busy || !byId.trim()}>
            Open by id
          </button>
        </form>
        <button type="button" className="link" onClick={onSignOut}>
          Sign in with another token
        </button>
      </section>
    </div>
  );
}
