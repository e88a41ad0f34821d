import { useState, type FormEvent } from 'react';
import { createApi, type WhoAmI } from '../api';
import { ErrorText } from '../components/error-text';
import { errorText } from '../components/format';

/**
 * Sign-in with an API token: checked with GET /v1/whoami, kept for this browser tab only. A
 * project token opens its project; the installation token goes on to the project picker.
 */
export function SignIn({ apiUrl, onSignedIn }: { apiUrl: string; onSignedIn: (token: string, whoami: WhoAmI) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const whoami = await createApi(apiUrl, token.trim()).whoami();
      onSignedIn(token.trim(), whoami);
    } catch (caught) {
      setError(errorText(caught));
      setBusy(false);
    }
  };

  return (
    <div className="sign-in">
      <form onSubmit={(event) => void submit(event)} aria-label="Sign in">
        <h1>Baton</h1>
        <p className="muted">Sign in with an API token (a project's, or the installation token). It stays in this browser tab only.</p>
        <label>
          Token
          <input name="token" type="password" autoComplete="off" value={token} onChange={(event) => setToken(event.target.value)} required placeholder="btn_…" />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p className="muted small">API: {apiUrl}</p>
      </form>
    </div>
  );
}
