import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['source-fal/**/*.test.ts', 'integration_tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Whole-connector tests spawn the CLI and an emulator; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
