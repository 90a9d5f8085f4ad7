/**
 * A fleet of real sshd hosts (tools/ssh-hosts.ts) and the built CLI driving it, as an operator
 * would: `runbook apply rb.yaml --ssh-config <the fleet's ssh_config>`. What a test asserts is
 * read back over ssh from the hosts themselves: file bytes, the crontab, processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cliPath, runCli, type CliResult } from '../support/cli.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

export interface Fleet extends SshHosts {
  names: string[];
  /** Runs a command on a host and returns its stdout; throws when it fails. */
  on(name: string, command: string): string;
  /** SIGKILL of one host's namespace: sshd and everything in it. The host is dead. */
  kill(name: string): void;
}

export async function startFleet(prefix: string, count: number, firstOctet: number): Promise<Fleet> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const hosts = await startSshHosts(names, { firstOctet });
  const on = (name: string, command: string) => {
    const r = hosts.ssh(name, command);
    if (r.status !== 0) throw new Error(`${name}: ${command} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const kill = (name: string) => {
    const unshare = Number(readFileSync(join(dirname(hosts.sshConfig), 'hosts', name, 'namespace.pid'), 'utf8'));
    const children = readFileSync(`/proc/${unshare}/task/${unshare}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    // The namespace's first process first, so that unshare reaps it (as tools/ssh-hosts.ts stops hosts).
    for (const child of children) process.kill(Number(child), 'SIGKILL');
    process.kill(unshare, 'SIGKILL');
  };
  // The tests' workspaces (runbooks, state dirs) go with the hosts.
  const stop = () => {
    hosts.stop();
    for (const dir of workspaces.get(fleet) ?? []) rmSync(dir, { recursive: true, force: true });
  };
  const fleet: Fleet = { ...hosts, names, on, kill, stop };
  return fleet;
}

/** `/srv/app.conf` as each host has it before a run: CRLF lines, no final newline. */
export const APP_CONF = 'a=1\r\npool=5\r\nb=2';
/** Each host's crontab before a run; the last host has none at all. */
export const CRONTAB = 'MAILTO=ops@example.com\n5 * * * * /bin/true # keep me\n';

/** Puts every host back to the state the tests start from. */
export function seed(fleet: Fleet): void {
  fleet.names.forEach((name, i) => {
    const crontab = i === fleet.names.length - 1 ? 'crontab -r 2>/dev/null || true' : `printf '%s' '${CRONTAB}' | crontab -`;
    fleet.on(name, `rm -rf /srv/*; printf '${APP_CONF.replace(/\r\n/g, '\\r\\n')}' > /srv/app.conf; chmod 640 /srv/app.conf; ${crontab}`);
  });
}

/**
 * What a host looks like, for before/after comparison: sha256, mode and owner of the files the
 * runbooks touch (or their absence), and the sha256 and exit code of `crontab -l`.
 */
export function fingerprint(fleet: Fleet, name: string): string {
  return fleet.on(
    name,
    [
      'for f in /srv/app.conf /srv/motd; do if [ -e "$f" ]; then sha256sum "$f"; stat -c "%a %u:%g" "$f"; else echo "$f absent"; fi; done',
      'crontab -l 2>&1 | sha256sum',
      'crontab -l >/dev/null 2>&1; echo "crontab -l exit $?"',
    ].join('; '),
  );
}

export function fingerprints(fleet: Fleet): Record<string, string> {
  return Object.fromEntries(fleet.names.map((n) => [n, fingerprint(fleet, n)]));
}

export function crontab(fleet: Fleet, name: string): string {
  const r = fleet.ssh(name, 'crontab -l');
  return r.status === 0 ? r.stdout : '';
}

export function fileOn(fleet: Fleet, name: string, path: string): string {
  return fleet.on(name, `cat ${path}`);
}

export interface Workspace {
  dir: string;
  runbook: string;
  /** The built CLI, with the fleet's ssh config; the runbook's state beside it unless `--state-dir`. */
  cli(args: string[], opts?: { env?: NodeJS.ProcessEnv }): CliResult;
  /** The CLI in the background, with `--json` (unless `json: false`): its NDJSON events as they come. */
  start(args: string[], opts?: { env?: NodeJS.ProcessEnv; json?: boolean }): Running;
  /** Every journal line of every run in the runbook's default state dir. */
  journal(): string;
}

export interface Event {
  event?: string;
  type?: string;
  host?: string;
  change?: string;
  [key: string]: unknown;
}

export interface Running {
  pid: number;
  events(): Event[];
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
  kill(signal: NodeJS.Signals): void;
}

const workspaces = new WeakMap<Fleet, string[]>();

export function workspace(fleet: Fleet, runbookText: string, { sshConfig = fleet.sshConfig }: { sshConfig?: string } = {}): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-'));
  workspaces.set(fleet, [...(workspaces.get(fleet) ?? []), dir]);
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(runbook, runbookText);
  // status and history do not reach the hosts: only these take --ssh-config.
  const withConfig = (args: string[]) => (['plan', 'apply', 'rollback', 'validate'].includes(args[0] ?? '') ? [...args, '--ssh-config', sshConfig] : args);
  return {
    dir,
    runbook,
    cli: (args, opts) => runCli(withConfig(args), { cwd: dir, env: opts?.env }),
    start: (args, opts) => {
      const child = spawn(process.execPath, [cliPath, ...withConfig(args), ...(opts?.json === false ? [] : ['--json'])], { cwd: dir, env: { ...process.env, CI: '1', ...opts?.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
      const events = () =>
        stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .flatMap((l) => {
            try {
              return [JSON.parse(l) as Event];
            } catch {
              return [];
            }
          });
      return { pid: child.pid!, events, stdout: () => stdout, stderr: () => stderr, done, kill: (signal) => child.kill(signal) };
    },
    journal: () => {
      const runs = join(dir, '.runbook', 'runs');
      return readdirSync(runs)
        .map((f) => readFileSync(join(runs, f), 'utf8'))
        .join('');
    },
  };
}

/** The name of an NDJSON event, whichever key carries it. */
export function eventName(e: Event): string {
  return String(e.event ?? e.type ?? '');
}

export async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
