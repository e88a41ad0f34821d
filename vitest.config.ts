import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // `npm test` measures the offline projects with --coverage (V8's own counters: no
    // instrumentation step). What the unit tests are for: the Lambda code, the SDK and the CLI;
    // infra has template assertions, the console its browser test. The thresholds sit just
    // under what the unit project alone measured (docs/ARCHITECTURE.md, "Coverage"): a change
    // that drops coverage below them fails the run.
    coverage: {
      provider: 'v8',
      include: ['shared/**/*.ts', 'functions/**/*.ts', 'sdk/src/**/*.ts', 'cli/**/*.ts'],
      exclude: ['**/*.d.ts', 'sdk/src/schema.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: '.baton/coverage',
      thresholds: { statements: 58, branches: 49, functions: 57, lines: 59 },
    },
    projects: [
      // Functions emit their usage as EMF metric lines on stdout: not wanted in unit test output.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', env: { POWERTOOLS_METRICS_DISABLED: 'true' } } },
      // Synthesizing bundles every function: give it time on a 2-core machine.
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], environment: 'node', testTimeout: 120_000, hookTimeout: 180_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          // One deployed stack shared by every test, cleaned between tests: run them one at a time.
          fileParallelism: false,
          sequence: { concurrent: false },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
