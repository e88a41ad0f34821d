// One lint configuration for sources, tests, infra and scripts (type-aware).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.baton/', '.venv/', 'coverage/', 'console/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'cli/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'error',
      'no-console': 'off',
    },
  },
  {
    // Lambda code never imports the CDK side: runtime emulator workarounds live in shared/config/emulator-gaps.ts.
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^#infra/|(^|/)infra/', message: 'Lambda code does not import infra/: move what it needs into shared/.' }] }],
    },
  },
  {
    // The domain is pure rules: no AWS SDK, no infrastructure. (Repeats the infra/ rule: this block's options replace it here.)
    files: ['shared/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*', '@middy/*'], message: 'shared/domain holds pure rules: no AWS SDK, CDK or middleware imports.' },
            { regex: '^#infra/|(^|/)infra/', message: 'Lambda code does not import infra/: move what it needs into shared/.' },
          ],
        },
      ],
    },
  },
  {
    // The engine talks to storage, queue and bus through its ports (shared/engine/store.ts,
    // dispatch.ts, the outbox): the adapters live in shared/store and shared/clients.
    files: ['shared/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@aws-sdk/*', '#infra/*', 'aws-cdk-lib', 'aws-cdk-lib/*'], message: 'shared/engine reaches AWS only through its ports (EngineStore, Dispatcher, outbox): put SDK code in an adapter under shared/store or shared/clients.' }] }],
    },
  },
  {
    // Generated from the contract by openapi-typescript: a union of a constant and a range (a budget's
    // usd is 0 or at least 1e-9) comes out as `0 | number`, which is what the contract says.
    files: ['sdk/src/schema.ts'],
    rules: { '@typescript-eslint/no-redundant-type-constituents': 'off' },
  },
  {
    // The SDK runs in browsers too (the console bundles it): no Node modules, nothing of the server.
    files: ['sdk/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', '#shared/*', '#functions/*', '@aws-sdk/*'], message: 'The SDK runs in Node and in browsers: web APIs only, nothing of the server.' }] }],
    },
  },
  {
    // Vitest's asymmetric matchers (expect.any, expect.stringMatching) are typed `any`.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
