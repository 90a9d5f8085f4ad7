import type { CommonOptions } from './options.js';

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The state option as the operator must repeat it. From RUNBOOK_STATE it needs no repeating;
 * a URL with a password is shown with a placeholder, never the password.
 */
function stateArgs(options: CommonOptions): string[] {
  const dir = options.stateDir ? ['--state-dir', options.stateDir] : [];
  if (!options.state || options.state === process.env.RUNBOOK_STATE) return dir;
  return [...dir, '--state', options.state.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/, '$1:<password>@')];
}

/**
 * The exact command to run next, e.g. `runbook rollback rb.yaml --state-dir /srv/state
 * --vars-file prod.yaml`: same state and vars files as this invocation, shell-quoted.
 */
export function commandFor(verb: string, file: string, options: CommonOptions, extra: string[] = []): string {
  const vars = options.varsFile.flatMap((f) => ['--vars-file', f]);
  return ['runbook', ...verb.split(' '), file, ...extra, ...stateArgs(options), ...vars].map((a, i) => (i === 0 ? a : quote(a))).join(' ');
}
