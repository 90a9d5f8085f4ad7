import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most files wait on real servers (sshd, PostgreSQL, Docker, HTTP): on a 2-core machine the
    // default (cores − 1 = one file at a time) leaves the CPU idle while the suite takes 13 min.
    // Files share nothing that would make two at a time unsafe: each test process has its own
    // cron spool (test/support/crontab.ts), sshd hosts and ports of its own.
    maxWorkers: 2,
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
