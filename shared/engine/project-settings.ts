import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';

/** The settings of a project as the worker sees them (defaults for a project that is gone). */
export type ProjectSettingsReader = (projectId: string, options?: { fresh?: boolean }) => Promise<ProjectSettings>;

/**
 * Reads a project's settings at most once per `ttlMs` per project and worker instance: a step
 * costs no extra read, and a settings change reaches the workers within that time. `fresh` reads
 * now (and keeps the answer): a budget refusal checks whether the budget was raised meanwhile.
 */
export const cachedProjectSettings = (
  read: (projectId: string) => Promise<ProjectSettings | undefined>,
  { ttlMs = 30_000, now = Date.now }: { ttlMs?: number; now?: () => number } = {},
): ProjectSettingsReader => {
  const cache = new Map<string, { settings: Promise<ProjectSettings>; until: number }>();
  return (projectId, options) => {
    const cached = cache.get(projectId);
    if (cached && cached.until > now() && !options?.fresh) return cached.settings;
    const settings = read(projectId).then((found) => found ?? defaultProjectSettings);
    cache.set(projectId, { settings, until: now() + ttlMs });
    // A failed read is not remembered: the next step tries again.
    settings.catch(() => {
      if (cache.get(projectId)?.settings === settings) cache.delete(projectId);
    });
    return settings;
  };
};
