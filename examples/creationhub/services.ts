/** Starting, stopping and health-checking the sandbox's Node services. */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxState } from './state.js';

export type ServiceName = 'system-api' | 'dashboard';
export const SERVICES: ServiceName[] = ['system-api', 'dashboard'];

/** KEY=VALUE lines of a .env file, as data: surrounding quotes stripped, nothing evaluated. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** The line written to a service's log at each start. */
export const startMarker = (name: ServiceName) => `--- ${name} started`;

const pidFile = (s: SandboxState, name: ServiceName) => join(s.runDir, `${name}.pid`);
export const logFile = (s: SandboxState, name: ServiceName) => join(s.runDir, `${name}.log`);

export function servicePid(s: SandboxState, name: ServiceName): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(s, name), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function healthUrl(s: SandboxState, name: ServiceName): string {
  return name === 'system-api' ? `http://127.0.0.1:${s.apiPort}/health` : `http://127.0.0.1:${s.dashboardPort}/`;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a service the way its container would: env from the app's .env, logs to a file. */
export async function startService(s: SandboxState, name: ServiceName): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_PATH: s.nodeModules,
    ...parseDotenv(existsSync(join(s.appDir, '.env')) ? readFileSync(join(s.appDir, '.env'), 'utf8') : ''),
    API_PORT: String(s.apiPort),
    DASHBOARD_PORT: String(s.dashboardPort),
  };
  // Fault injection for tests and drills: SANDBOX_DROP_ENV=NAME[,NAME] starts the service
  // without those variables, as a docker-compose file that forgot to pass them would.
  for (const dropped of (process.env.SANDBOX_DROP_ENV ?? '').split(',').filter(Boolean)) delete env[dropped];
  const cwd = join(s.appDir, name);
  const log = openSync(logFile(s, name), 'a');
  // The log is append-only, like `docker logs` across restarts; this marker lets a check read
  // only what the service wrote since its last start (docker: `logs --since <StartedAt>`).
  writeSync(log, `${startMarker(name)} ${new Date().toISOString()}\n`);
  if (name === 'dashboard') {
    const build = spawn(process.execPath, ['build.js'], { cwd, env, stdio: ['ignore', log, log] });
    const code = await new Promise<number | null>((r) => build.on('close', r));
    if (code !== 0) {
      closeSync(log);
      throw new Error(`the dashboard build failed (exit ${code}); last lines of ${logFile(s, name)}:\n${tail(logFile(s, name))}`);
    }
  }
  const child = spawn(process.execPath, [name === 'system-api' ? 'index.js' : 'server.js'], { cwd, env, detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  writeFileSync(pidFile(s, name), String(child.pid));
  const url = healthUrl(s, name);
  for (let i = 0; i < 100; i++) {
    if (exited !== undefined) break;
    if (await healthy(url)) return;
    await sleep(100);
  }
  rmSync(pidFile(s, name), { force: true });
  throw new Error(`${name} did not come up${exited !== undefined ? ` (exited with code ${exited})` : ''}; last lines of ${logFile(s, name)}:\n${tail(logFile(s, name))}`);
}

export async function stopService(s: SandboxState, name: ServiceName): Promise<void> {
  const pid = servicePid(s, name);
  rmSync(pidFile(s, name), { force: true });
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
