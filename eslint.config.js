// Lint rules for source-fal (run by `npm run lint`, and by .ci/run).
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

const NO_TEST_CODE = {
  group: ['**/integration_tests/**', '**/bench/**', '**/scripts/**'],
  message: 'Product code (the emulator included) must not import tests, benchmarks or scripts.',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'dbt/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The product (what ships in dist/source-fal and the Docker image, the emulator included) never depends on test code.
    files: ['source-fal/**/*.ts'],
    ignores: ['source-fal/**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_CODE] }] },
  },
  {
    // The emulator is product code too (sync --demo), but the connector must not reach into it except from the demo.
    files: ['source-fal/**/*.ts'],
    ignores: ['source-fal/**/*.test.ts', 'source-fal/emulator/**', 'source-fal/sync/demo.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NO_TEST_CODE,
            {
              group: ['**/emulator/**', './emulator/*', '../emulator/*'],
              message: 'Only sync --demo (source-fal/sync/demo.ts) may use the fal emulator.',
            },
          ],
        },
      ],
    },
  },
);
