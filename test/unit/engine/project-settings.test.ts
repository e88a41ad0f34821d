import { describe, expect, it } from 'vitest';
import { cachedProjectSettings } from '#shared/engine/project-settings';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';

describe('project settings as the worker reads them', () => {
  it('reads a project once per period, then again', async () => {
    let time = 0;
    const reads: string[] = [];
    let prices: ProjectSettings['llmPrices'] = {};
    const settingsOf = cachedProjectSettings(
      async (projectId) => {
        reads.push(projectId);
        return { ...defaultProjectSettings, llmPrices: prices };
      },
      { ttlMs: 30_000, now: () => time },
    );

    await settingsOf('prj_a');
    prices = { m: { inputPerMillion: 1, outputPerMillion: 2 } };
    time = 29_999;
    expect((await settingsOf('prj_a')).llmPrices).toEqual({});
    await settingsOf('prj_b');
    time = 30_000;
    expect((await settingsOf('prj_a')).llmPrices).toEqual(prices);
    expect(reads).toEqual(['prj_a', 'prj_b', 'prj_a']);
  });

  it('answers the defaults for a project that is gone and does not remember a failed read', async () => {
    let fail = true;
    const settingsOf = cachedProjectSettings(async () => {
      if (fail) throw new Error('throttled');
      return undefined;
    });

    await expect(settingsOf('prj_a')).rejects.toThrow('throttled');
    fail = false;
    expect(await settingsOf('prj_a')).toEqual(defaultProjectSettings);
  });
});
