import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

/** Everything about a running sandbox, kept in <stateDir>/sandbox.json. */
export interface SandboxState {
  stateDir: string;
  appDir: string;
  runDir: string;
  nodeModules: string;
  apiPort: number;
  dashboardPort: number;
  db: { name: string; url: string; port: number; binDir: string; dataDir: string; password: string; passFile: string };
  /** The compose flavour (`up --docker`): the services are containers on the sandbox's own Docker engine. */
  docker?: {
    /** DOCKER_HOST for every client: the engine's own socket. */
    host: string;
    /** How compose is called here: ['docker', 'compose'] (v2 plugin) or ['docker-compose'] (v1). */
    compose: string[];
    /** Waits until containers are healthy; one that exits fails with its last log lines. */
    waitHealthy: string;
  };
}

/** SANDBOX_DIR overrides where the sandbox lives (tests use a temp dir each). */
export function stateDir(): string {
  return resolve(process.env.SANDBOX_DIR ?? join(here, '.sandbox'));
}

export function readState(dir = stateDir()): SandboxState | undefined {
  const file = join(dir, 'sandbox.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SandboxState) : undefined;
}
