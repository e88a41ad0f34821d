import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { Role } from '../api';
import { ErrorText } from '../components/error-text';
import { errorText, formatTime } from '../components/format';
import { can, useSession } from '../context';

/** Admin only: tokens, webhook secrets, project secrets and settings. Shown values appear once. */
export function AdminPage() {
  const { role } = useSession();
  if (!can(role, 'admin')) return <p className="muted">Only admins manage tokens, secrets and settings.</p>;
  return (
    <div className="admin">
      <h1>Project administration</h1>
      <Tokens />
      <WebhookSecrets />
      <ProjectSecrets />
      <Settings />
    </div>
  );
}

/** A value shown once (a new token or webhook secret): the API never shows it again. */
function ShownOnce({ label, value }: { label: string; value: string }) {
  return (
    <div className="shown-once" role="status">
      <strong>{label}</strong> (shown once, copy it now): <code data-testid="shown-once">{value}</code>
    </div>
  );
}

function Tokens() {
  const { api, projectId, whoami } = useSession();
  // The token this console is signed in with: revoking it signs the console out on its next call.
  const ownTokenId = whoami.kind === 'project' ? whoami.tokenId : undefined;
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens', projectId], queryFn: () => api.listTokens(projectId) });
  const [name, setName] = useState('');
  const [newRole, setNewRole] = useState<Role>('viewer');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['tokens', projectId] });
  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const token = await api.createToken(projectId, name.trim(), newRole);
      setCreated(token.token);
      setName('');
      await refresh();
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  const revoke = async (tokenId: string) => {
    const warning = tokenId === ownTokenId ? ' This is the token you are signed in with: the console will stop working until you sign in with another.' : '';
    if (!window.confirm(`Revoke ${tokenId}? Requests with it are refused from now on.${warning}`)) return;
    try {
      await api.revokeToken(projectId, tokenId);
      await refresh();
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  return (
    <section className="card">
      <h2>Tokens</h2>
      <table data-testid="tokens">
        <thead>
          <tr>
            <th>name</th>
            <th>role</th>
            <th>id</th>
            <th>created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.data?.map((token) => (
            <tr key={token.id} className={token.revokedAt ? 'muted' : ''}>
              <td>
                {token.name} {token.id === ownTokenId && <span className="muted small">(signed in with it)</span>}
              </td>
              <td>{token.role}</td>
              <td className="mono small">{token.id}</td>
              <td>{formatTime(token.createdAt)}</td>
              <td>
                {token.revokedAt ? (
                  `revoked ${formatTime(token.revokedAt)}`
                ) : (
                  <button type="button" className="link danger" onClick={() => void revoke(token.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline-form" onSubmit={(event) => void create(event)} aria-label="Create a token">
        <input name="tokenName" value={name} onChange={(event) => setName(event.target.value)} placeholder="name" required maxLength={100} />
        <select name="tokenRole" value={newRole} onChange={(event) => setNewRole(event.target.value as Role)}>
          <option value="viewer">viewer</option>
          <option value="editor">editor</option>
          <option value="admin">admin</option>
        </select>
        <button type="submit">Create token</button>
      </form>
      {created && <ShownOnce label="New token" value={created} />}
      <ErrorText error={error} />
    </section>
  );
}

function WebhookSecrets() {
  const { api, projectId } = useSession();
  const [shown, setShown] = useState<{ provider: string; secret: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rotate = async (provider: 'github' | 'gitlab' | 'generic') => {
    setError(null);
    try {
      const result = await api.setWebhookSecret(projectId, provider);
      setShown({ provider: result.provider, secret: result.secret });
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  return (
    <section className="card">
      <h2>Webhook secrets</h2>
      <p className="muted small">Generating a new secret keeps the previous one valid until the next rotation.</p>
      <div className="actions">
        {(['github', 'gitlab', 'generic'] as const).map((provider) => (
          <button type="button" key={provider} onClick={() => void rotate(provider)}>
            New {provider} secret
          </button>
        ))}
      </div>
      {shown && <ShownOnce label={`${shown.provider} secret`} value={shown.secret} />}
      <ErrorText error={error} />
    </section>
  );
}

function ProjectSecrets() {
  const { api, projectId } = useSession();
  const queryClient = useQueryClient();
  const secrets = useQuery({ queryKey: ['secrets', projectId], queryFn: () => api.listSecrets(projectId), retry: false });
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['secrets', projectId] });
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await api.putSecret(projectId, name.trim(), value);
      setName('');
      setValue('');
      await refresh();
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  const remove = async (secretName: string) => {
    if (!window.confirm(`Delete the secret ${secretName}? Steps that reference it will fail.`)) return;
    try {
      await api.deleteSecret(projectId, secretName);
      await refresh();
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  return (
    <section className="card">
      <h2>Project secrets</h2>
      <p className="muted small">Steps reference them as {'{"$secret": "name"}'}; values are write-only and never shown again.</p>
      <ErrorText error={secrets.error} />
      {secrets.data?.length === 0 && <p className="muted">No secrets yet.</p>}
      <ul>
        {secrets.data?.map((secret) => (
          <li key={secret.name}>
            <span className="mono">{secret.name}</span> <span className="muted small">{formatTime(secret.updatedAt ?? secret.createdAt)}</span>{' '}
            <button type="button" className="link danger" onClick={() => void remove(secret.name)}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      <form className="inline-form" onSubmit={(event) => void save(event)} aria-label="Set a secret">
        <input name="secretName" value={name} onChange={(event) => setName(event.target.value)} placeholder="name" required />
        <input name="secretValue" type="password" autoComplete="off" value={value} onChange={(event) => setValue(event.target.value)} placeholder="value" required />
        <button type="submit">Save secret</button>
      </form>
      <ErrorText error={error} />
    </section>
  );
}

/** The project's on/off settings, each with what it does (the rest are shown as JSON below). */
type ToggleSetting = 'autoQaOnCi' | 'completeRunOnMerge' | 'publishStepEvents';

function Settings() {
  const { api, projectId } = useSession();
  const queryClient = useQueryClient();
  const project = useQuery({ queryKey: ['project', projectId], queryFn: () => api.getProject(projectId) });
  const [error, setError] = useState<string | null>(null);
  const toggle = async (key: ToggleSetting, value: boolean) => {
    setError(null);
    try {
      await api.updateSettings(projectId, { [key]: value });
      await queryClient.invalidateQueries({ queryKey: ['project', projectId] });
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  const settings: Record<string, unknown> = project.data?.settings ?? {};
  const labels: Record<ToggleSetting, string> = {
    autoQaOnCi: 'A CI success approves the mapped run’s waiting approval steps (a failure fails them)',
    completeRunOnMerge: 'A merged pull/merge request completes the mapped run',
    publishStepEvents: 'Step events (step.*) go to the event bus too, for subscribers (runs created afterwards; costs an EventBridge event each)',
  };
  return (
    <section className="card">
      <h2>Settings</h2>
      {project.data && <p className="muted small">{project.data.name}, created {formatTime(project.data.createdAt)}</p>}
      {(Object.entries(labels) as [ToggleSetting, string][]).map(([key, label]) => (
        <label key={key} className="inline">
          <input type="checkbox" name={key} checked={settings[key] === true} onChange={(event) => void toggle(key, event.target.checked)} /> {label}
        </label>
      ))}
      <details>
        <summary className="small">All settings</summary>
        <pre className="small">{JSON.stringify(settings, null, 2)}</pre>
      </details>
      <ErrorText error={error} />
    </section>
  );
}
