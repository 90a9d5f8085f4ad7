import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runCliAsync, type CliResult } from '../support/cli.js';
import { journalText } from '../support/state-backend.js';

export interface Sandbox {
  dir: string;
  runbook: string;
  state: string;
  /** The CLI (with the test leg's state backend, test/support/state-backend.ts). */
  cli(args: string[], opts?: { env?: NodeJS.ProcessEnv }): CliResult;
  cliAsync(args: string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  /** Bytes of every file in dir (except the runbook state), for before/after comparison. */
  snapshot(): Record<string, string>;
  /** Every journal event, one JSON per line, from whichever backend holds them. */
  journal(): string;
}

/**
 * A temp dir with four config files and a four-change runbook: each change edits one file
 * (automatic inverse) and verifies it; `fail_at=k` makes change k's verify fail.
 */
export function fourChanges(opts: { onFailure?: string; extraApply?: Record<number, string>; secrets?: string; policy?: string; httpPort?: number } = {}): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-exec-'));
  for (let i = 1; i <= 4; i++) writeFileSync(join(dir, `conf${i}.txt`), `setting${i}=old\nother=keep\n`);
  const changes = [1, 2, 3, 4]
    .map(
      (i) => `  - id: change-${i}
    title: Change ${i}
    risk: ${i === 2 ? 2 : 0}
    apply:
      - file: { path: "{{ dir }}/conf${i}.txt", replace: { from: "setting${i}=old", to: "setting${i}=new" } }
${opts.extraApply?.[i] ?? ''}    verify:
      - run: "grep -q setting${i}=new {{ dir }}/conf${i}.txt"
      - name: fault injection point ${i}
        run: "test {{ fail_at }} != ${i}"
${opts.httpPort ? `      - http: { url: "http://127.0.0.1:${opts.httpPort}/health", contains: ok }\n` : ''}`,
    )
    .join('');
  const text = `runbook: 1
name: four-changes
title: Four changes
vars: { dir: "${dir}", fail_at: "0" }
${opts.secrets ?? ''}
policy: { maxRisk: 5, confirmFrom: 3, onFailure: ${opts.onFailure ?? 'rollback-all'} }
changes:
${changes}`;
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(runbook, text);
  const state = join(dir, '.runbook');
  return {
    dir,
    runbook,
    state,
    cli: (args, o) => runCli(args, o),
    cliAsync: (args, o) => runCliAsync(args, o),
    snapshot: () => Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.txt')).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')])),
    journal: () => journalText(dir),
  };
}

/**
 * Change k gets a slow step that first leaves the marker `at-k`, so a test knows where the
 * engine is; the change gets explicit rollback steps (a `run` step has no inverse).
 */
export function slowAt(k: number, seconds = 30, opts: Parameters<typeof fourChanges>[0] = {}): Sandbox {
  const sb = fourChanges({ ...opts, extraApply: { ...opts.extraApply, [k]: `      - run: "touch {{ dir }}/at-${k}; sleep ${seconds}"\n` } });
  writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace(`  - id: change-${k}\n`, `  - id: change-${k}\n    rollback:\n      - file: { path: "{{ dir }}/conf${k}.txt", replace: { from: "setting${k}=new", to: "setting${k}=old" } }\n`));
  return sb;
}

/** Processes still running a sandbox's slow step (`pgrep -af at-`), one per line; '' when none. */
export function slowStepsLeft(dir: string, marker = 'at-'): string {
  try {
    return execFileSync('pgrep', ['-af', marker], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir)).join('\n');
  } catch {
    return '';
  }
}

/** The runbook's journal events, from whichever backend holds them. */
export function journalEvents(sb: Sandbox): { type: string; [k: string]: unknown }[] {
  return sb
    .journal()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string });
}
