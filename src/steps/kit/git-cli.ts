import { StepFailedError } from '../contract.js';
import { localTarget } from './local-target.js';
import type { Target } from './target.js';

/**
 * Where git runs: this machine or a host (the `git` program through `target.exec`, argv only),
 * the environment it gets there (`StepContext.env`: the whole environment here, what is added
 * to the login environment on a host) and what stops it.
 */
export interface GitPlace {
  target: Target;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** This machine, with this process's environment; never interrupted (the runbook's checkpoint, tests). */
export function gitHere(): GitPlace {
  return { target: localTarget('/'), env: process.env, signal: new AbortController().signal };
}

/**
 * A step's place: its target and its environment. Not its timeout or interrupts: a git command
 * runs to its end (a checkpoint cut between moving HEAD and writing the index is worse than a
 * late stop); a step stuck past its timeout is abandoned by the step runner, as any step.
 */
export function gitOn(ctx: { target: Target; env: NodeJS.ProcessEnv }): GitPlace {
  return { target: ctx.target, env: ctx.env, signal: new AbortController().signal };
}

export interface GitCall {
  /** Use this index file instead of the checkout's (GIT_INDEX_FILE): stage without touching the operator's index. */
  indexFile?: string;
  /** Written to git's stdin. */
  input?: string;
}

/** Git's output beyond this is an error, not silently cut (as execa's maxBuffer did). */
const OUTPUT_LIMIT = 100_000_000;

/** How a git command is shown in messages: `git -C <dir> <args>`, shell-quoted where needed. */
export function gitCommandText(dir: string, args: string[]): string {
  return ['git', '-C', dir, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** Runs git in `dir` (`git -C dir`) where `on` says; resolves with its exit code and output whatever the code. */
export async function gitTry(dir: string, args: string[], call: GitCall = {}, on: GitPlace = gitHere()): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const env = call.indexFile ? { ...on.env, GIT_INDEX_FILE: call.indexFile } : on.env;
  const command = gitCommandText(dir, args);
  let r;
  try {
    // `-C dir` rather than a working directory: a missing dir is git's own clear error, not a failed spawn.
    r = await on.target.exec({ argv: ['git', '-C', dir, ...args], shown: command, cwd: '/', env, signal: on.signal, capture: true, captureLimit: OUTPUT_LIMIT, ...(call.input !== undefined ? { input: call.input } : {}) });
  } catch (error) {
    if (on.signal.aborted) throw error;
    throw new StepFailedError(`cannot run git: ${(error as Error).message}`, { command });
  }
  if (r.stdout.length >= OUTPUT_LIMIT) throw new StepFailedError(`git ${args[0]} printed more than ${OUTPUT_LIMIT} characters`, { command });
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs git in `dir` and returns its stdout; a non-zero exit is a StepFailedError naming the command and git's message. */
export async function git(dir: string, args: string[], call: GitCall = {}, on: GitPlace = gitHere()): Promise<string> {
  const r = await gitTry(dir, args, call, on);
  if (r.exitCode !== 0) {
    const said = r.stderr.trim().split('\n').filter(Boolean);
    throw new StepFailedError(`git ${args[0]} failed: ${said[0] ?? `exit code ${r.exitCode}`}`, {
      command: gitCommandText(dir, args),
      exitCode: r.exitCode,
      outputTail: said.slice(-15).join('\n') || undefined,
    });
  }
  return r.stdout;
}

/** NUL-separated output (`-z`) as a list. */
export function zList(text: string): string[] {
  return text.split('\0').filter(Boolean);
}
