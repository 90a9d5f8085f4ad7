import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      // The executor suite once more, against the PostgreSQL state backend (test/support/state-backend.ts).
      {
        extends: true,
        test: { name: 'postgres-state', include: ['test/executor/**/*.test.ts'], env: { RUNBOOK_TEST_BACKEND: 'postgres' }, setupFiles: ['test/support/postgres-leg.ts'] },
      },
    ],
  },
});
