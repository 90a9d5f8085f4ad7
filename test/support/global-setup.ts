import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startCluster, type Cluster } from '../../tools/pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { url: string; password: string; port: number; binDir: string; dataDir: string };
  }
}

let cluster: Cluster | undefined;

/**
 * The system tools the suite drives for real (crontab, PostgreSQL, script, …), checked once
 * before any test starts: a missing one is one clear failure naming it and the install command,
 * not a timeout in every test that needs it. `npm test` has installed them already (pretest).
 */
function checkPrerequisites(): void {
  const r = spawnSync(process.execPath, ['scripts/prerequisites.mjs', 'test', '--check'], { encoding: 'utf8' });
  if (r.status === 0) return;
  const error = new Error(`the suite cannot start its real components:\n${r.stderr.trim()}`);
  error.stack = error.message; // the message is the whole story: no frames of ours or vitest's
  throw error;
}

/** One real, throwaway PostgreSQL cluster for the whole run. If it cannot start, the run fails. */
export default async function setup(project: TestProject) {
  checkPrerequisites();
  cluster = await startCluster();
  cluster.createDatabase('runbook_test');
  project.provide('pg', { url: cluster.url('runbook_test'), password: cluster.password, port: cluster.port, binDir: cluster.binDir, dataDir: cluster.dataDir });
  return () => cluster?.stop();
}
