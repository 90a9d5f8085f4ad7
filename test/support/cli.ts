import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendArgs } from './state-backend.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(repoRoot, 'bin', 'runbook.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as an operator would (no TTY, so line output), synchronously; with the leg's state backend (state-backend.ts). */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const { extra, call } = backendArgs(args, { cwd: opts.cwd ?? repoRoot, env: opts.env });
  const r = spawnSync(process.execPath, [cliPath, ...args, ...extra], { cwd: opts.cwd ?? repoRoot, env: { ...process.env, CI: '1', ...opts.env }, encoding: 'utf8', input: opts.input, timeout: 120_000 });
  if (call) call.code = r.status;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command line exactly as printed for the operator, through bash (`runbook …` is this checkout's CLI). */
export function runPrinted(command: string): CliResult {
  const r = spawnSync('bash', ['-c', `runbook() { "${process.execPath}" "${cliPath}" "$@"; }; ${command}`], { encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI in the background (for signals and kill -9). */
export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const { extra, call } = backendArgs(args, { cwd: opts.cwd ?? repoRoot, env: opts.env });
  const child = spawn(process.execPath, [cliPath, ...args, ...extra], { cwd: opts.cwd ?? repoRoot, env: { ...process.env, CI: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolvePromise) =>
    child.on('close', (code) => {
      if (call) call.code = code;
      resolvePromise({ code, stdout, stderr });
    }),
  );
  return { child, done, output: () => stdout };
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Like runCli, without blocking this process (needed when the test itself serves HTTP). */
export async function runCliAsync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}
