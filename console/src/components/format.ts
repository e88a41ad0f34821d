/** What went wrong, for people: the SDK's errors already name the code, the field and the request id. */
export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const formatTime = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '—');

export function formatDuration(fromIso: string | undefined, toIso?: string): string {
  if (!fromIso) return '—';
  const ms = (toIso ? Date.parse(toIso) : Date.now()) - Date.parse(fromIso);
  if (ms < 1000) return `${ms} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 120 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}

export const formatUsd = (value: unknown): string => {
  if (typeof value !== 'number') return '—';
  const size = Math.abs(value);
  return `${value < 0 ? '-' : ''}$${size < 0.01 ? size.toFixed(6) : size.toFixed(4)}`;
};

export const pretty = (value: unknown): string => (value === undefined ? '—' : JSON.stringify(value, null, 2));

/** A length of time as a person reads it at a glance: `130 ms`, `12 s`, `4 min`, `2.5 h`. */
export function formatElapsed(ms: number): string {
  const size = Math.max(0, ms);
  if (size < 1000) return `${Math.round(size)} ms`;
  if (size < 120_000) return `${Math.round(size / 1000)} s`;
  const minutes = Math.round(size / 60_000);
  return minutes < 120 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}
