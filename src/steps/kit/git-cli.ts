import { StepFailedError } from '../contract.js';

export interface GitCall {
  /** Use this index file instead of the checkout's (GIT_INDEX_FILE): stage without touching the operator's index. */
  indexFile?: string;
  /** Written to git's stdin. */
  input?: string;
}

/** How a git command is shown in messages: `git -C <dir> <args>`, shell-quoted where needed. */
export function gitCommandText(dir: string, args: string[]): string {
  return ['git', '-C', dir, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** Runs git in `dir`; resolves with its exit code and output whatever the code. */
export async function gitTry(dir: string, args: string[], call: GitCall = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const { execa } = await import('execa');
  const env = call.indexFile ? { ...process.env, GIT_INDEX_FILE: call.indexFile } : process.env;
  const r = await execa('git', args, { cwd: dir, env, extendEnv: false, reject: false, stripFinalNewline: false, input: call.input ?? '' });
  if (r.failed && r.exitCode === undefined) throw new StepFailedError(`cannot run git: ${r.shortMessage}`, { command: gitCommandText(dir, args) });
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs git in `dir` and returns its stdout; a non-zero exit is a StepFailedError naming the command and git's message. */
export async function git(dir: string, args: string[], call: GitCall = {}): Promise<string> {
  const r = await gitTry(dir, args, call);
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
