import { redactUrl } from '../../support/redact-url.js';
import { quoteForShell } from '../../support/shell-quote.js';
import type { CommonOptions } from './options.js';

const fromEnv = (value: string | undefined, name: string) => value !== undefined && value === process.env[name];

/**
 * The state options a printed command must repeat to act on the same state: `--state-dir`,
 * `--environment` and `--state` unless they came from RUNBOOK_ENVIRONMENT / RUNBOOK_STATE (still
 * set for the next command). A password in `--state` is shown as *** — never printed.
 */
function stateFlags(options: CommonOptions): string[] {
  const flags: string[] = [];
  if (options.stateDir) flags.push('--state-dir', options.stateDir);
  if (options.environment && !fromEnv(options.environment, 'RUNBOOK_ENVIRONMENT')) flags.push('--environment', options.environment);
  if (options.state && !fromEnv(options.state, 'RUNBOOK_STATE')) flags.push('--state', redactUrl(options.state));
  return flags;
}

function shellLine(words: string[]): string {
  return words.map((w) => quoteForShell(w, 'bare')).join(' ');
}

/**
 * The exact command to print for the operator to run next, e.g. `runbook rollback x.yaml
 * --state-dir /s --vars-file prod.yaml`: the same state and vars files as this invocation.
 */
export function runbookCommand(args: string[], options: CommonOptions): string {
  const vars = (options.varsFile ?? []).flatMap((f) => ['--vars-file', f]);
  return shellLine(['runbook', ...args, ...stateFlags(options), ...vars, ...hostFlags(args[0], options)]);
}

/** The commands that take --inventory and --ssh-config. */
const HOST_COMMANDS = new Set(['validate', 'plan', 'apply', 'rollback']);

/** `--inventory` and `--ssh-config` as given, for a command that takes them (not --limit: what a run changed is undone on every host). */
function hostFlags(command: string | undefined, options: CommonOptions): string[] {
  if (command === undefined || !HOST_COMMANDS.has(command)) return [];
  return [...(options.inventory !== undefined ? ['--inventory', options.inventory] : []), ...(options.sshConfig !== undefined ? ['--ssh-config', options.sshConfig] : [])];
}

/** The command that copies a fallback dir into the state database (`--to` unless RUNBOOK_STATE names it). */
export function reconcileCommand(fallbackDir: string, options: CommonOptions): string {
  const to = options.state && !fromEnv(options.state, 'RUNBOOK_STATE') ? ['--to', redactUrl(options.state)] : [];
  return shellLine(['runbook', 'state', 'migrate', '--from', fallbackDir, ...to]);
}
