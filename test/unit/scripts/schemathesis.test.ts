import { describe, expect, it } from 'vitest';
import { countCases, fuzzSeed, pinnedFuzzSeed } from '../../../scripts/lib/schemathesis';

describe('the fuzz seed', () => {
  it('is the default given (npm test pins one; npm run fuzz gives none) unless BATON_FUZZ_SEED names one', () => {
    expect(fuzzSeed({}, pinnedFuzzSeed)).toBe(pinnedFuzzSeed);
    expect(fuzzSeed({}, undefined)).toBeUndefined();
    expect(fuzzSeed({ BATON_FUZZ_SEED: '42' }, pinnedFuzzSeed)).toBe('42');
    expect(fuzzSeed({ BATON_FUZZ_SEED: '42' }, undefined)).toBe('42');
  });

  it('is fresh for "random", and refuses anything but a whole number', () => {
    expect(fuzzSeed({ BATON_FUZZ_SEED: 'random' }, pinnedFuzzSeed)).toBeUndefined();
    expect(() => fuzzSeed({ BATON_FUZZ_SEED: '12ab' }, pinnedFuzzSeed)).toThrow(/BATON_FUZZ_SEED must be a whole number/);
  });
});

describe('countCases', () => {
  it('counts the cases of each finished scenario by operation, skipping other events', () => {
    const ndjson = [
      JSON.stringify({ ScenarioFinished: { recorder: { label: 'GET /v1/runs', cases: { a: {}, b: {} } } } }),
      JSON.stringify({ ScenarioFinished: { recorder: { label: 'GET /v1/runs', cases: { c: {} } } } }),
      JSON.stringify({ PhaseStarted: { phase: 'fuzzing' } }),
      '',
    ].join('\n');
    expect(countCases(ndjson)).toEqual({ 'GET /v1/runs': 3 });
  });
});
