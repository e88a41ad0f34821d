import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
