import type { TestProject } from 'vitest/node';
import { startCluster, type Cluster } from '../../tools/pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { url: string; password: string; port: number; binDir: string; dataDir: string };
  }
}

let cluster: Cluster | undefined;

/** One real, throwaway PostgreSQL cluster for the whole run. If it cannot start, the run fails. */
export default async function setup(project: TestProject) {
  cluster = await startCluster();
  cluster.createDatabase('runbook_test');
  project.provide('pg', { url: cluster.url('runbook_test'), password: cluster.password, port: cluster.port, binDir: cluster.binDir, dataDir: cluster.dataDir });
  return () => cluster?.stop();
}
