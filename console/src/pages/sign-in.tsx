import { useState, type FormEvent } from 'react';
import { createApi, type WhoAmI } from '../api';
import { errorText } from '../components/format';

/** Sign-in with an API token: checked with GET /v1/whoami, kept for this browser tab only. */
export function SignIn({ apiUrl, onSignedIn }: { apiUrl: string; onSignedIn: (token: string, whoami: WhoAmI, projectId: string) => void }) {
  const [token, setToken] = useState('');
  const [projectId, setProjectId] = useState('');
  const [needsProject, setNeedsProject] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const whoami = await createApi(apiUrl, token.trim()).whoami();
      if (whoami.kind === 'project') return onSignedIn(token.trim(), whoami, whoami.projectId);
      // The installation token belongs to no project: it looks at one the user names.
      if (!projectId.trim()) {
        setNeedsProject(true);
        setError('This is the installation token: name the project to open.');
        return;
      }
      onSignedIn(token.trim(), whoami, projectId.trim());
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sign-in">
      <form onSubmit={(event) => void submit(event)} aria-label="Sign in">
        <h1>Baton</h1>
        <p className="muted">Sign in with an API token. It stays in this browser tab only.</p>
        <label>
          Token
          <input name="token" type="password" autoComplete="off" value={token} onChange={(event) => setToken(event.target.value)} required placeholder="btn_…" />
        </label>
        {needsProject && (
          <label>
            Project id
            <input name="projectId" value={projectId} onChange={(event) => setProjectId(event.target.value)} placeholder="prj_…" />
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p className="muted small">API: {apiUrl}</p>
      </form>
    </div>
  );
}
