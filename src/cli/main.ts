import { Command, CommanderError, Option } from 'commander';
import type { ApplyOptions, CommonOptions, HistoryOptions, MigrateOptions, PlanOptions, ReportOptions, RollbackOptions, ShowOptions, UnlockOptions } from './kit/options.js';
import { guardOutput } from './kit/output.js';
import { reportError } from './kit/report-error.js';
import { ENGINE_VERSION } from './kit/version.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--var <key=value>', 'set a variable (repeatable; overrides vars files and defaults)', collect, [])
    .option('--vars-file <file>', 'load variables from a YAML file (repeatable)', collect, [])
    .option('--state-dir <dir>', 'where runs and the lock are kept (default: .runbook beside the runbook)')
    .addOption(new Option('--state <url>', 'state backend URL, e.g. postgres://… (default: the state dir)').env('RUNBOOK_STATE'))
    .addOption(new Option('--environment <name>', 'which environment of the runbook (own lock, runs and history; default: default)').env('RUNBOOK_ENVIRONMENT'))
    .option('--json', 'print NDJSON events / JSON instead of human output', false)
    .option('--no-color', 'plain output without colors')
    .option('--verbose', 'show step output and details', false);
}

/** The hosts of changes that run on hosts (`on: GROUP`), for the commands that load a runbook to plan or run it. */
function withHosts(cmd: Command): Command {
  return cmd
    .option('--inventory <file>', 'YAML host groups (group: [host, …] or group: { host: { var: value } }) that replace the runbook’s hosts:')
    .option('--limit <pattern>', 'only these hosts: host names, group names or globs with *, comma-separated; !x excludes')
    .option('--ssh-config <file>', 'the ssh client configuration every ssh uses (ssh -F FILE)');
}

type Loaded<O> = { run: (file: string | undefined, options: O) => Promise<number> };

/** Each command's implementation is loaded only when that command runs (fast start-up). */
function action<O>(load: () => Promise<Loaded<O>>, setCode: (code: number) => void) {
  return async (file: string | undefined, options: O) => {
    const mod = await load();
    setCode(await mod.run(file, options));
  };
}

export async function main(argv: string[]): Promise<number> {
  guardOutput();
  let code = 0;
  const setCode = (c: number) => {
    code = c;
  };
  const program = new Command('runbook')
    .description('Review, apply, verify and roll back production changes written as YAML runbooks.')
    .version(ENGINE_VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  withHosts(withCommon(program.command('validate').argument('<file>', 'runbook YAML').description('check a runbook; print every problem as file:line:col'))).action(action<CommonOptions>(() => import('./commands/validate.js'), setCode));

  program
    .command('schema')
    .description('print the runbook JSON Schema')
    .action(action<CommonOptions>(() => import('./commands/schema.js'), setCode));

  withHosts(withCommon(program.command('plan').argument('<file>', 'runbook YAML').description('review the changes: risk table, total risk, policy verdict, preflight')))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'markdown', 'json']).default('table'))
    .option('--check', 'also run the read-only preflight checks against the live system (exit 1 if one fails)', false)
    .option('--strict', 'exit 1 when the plan is outside policy (a change above maxRisk), for CI gates', false)
    .option('--out <plan>', 'also save the plan to this file: `runbook apply PLAN` runs exactly it, `runbook show PLAN` prints it')
    .action(action<PlanOptions>(() => import('./commands/plan.js'), setCode));

  program
    .command('show')
    .argument('<plan>', 'a saved plan (runbook plan --out)')
    .description('print a saved plan as plan would, with who made it, when, for which environment, and whether its files changed since')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'markdown', 'json']).default('table'))
    .option('--no-color', 'plain output without colors')
    .action(action<ShowOptions>(() => import('./commands/show.js'), setCode));

  withHosts(withCommon(program.command('apply').argument('<file>', 'runbook YAML, or a saved plan (runbook plan --out)').description('preflight, checkpoint, then each change: apply → verify; roll back on failure')))
    .option('--yes', 'confirm changes at or above policy.confirmFrom without asking', false)
    .option('--accept-risk', 'allow changes above policy.maxRisk', false)
    .option('--dry-run', 'run preflight and print exactly what would run, changing nothing', false)
    .option('--only <change>', 'apply only this change')
    .option('--from <change>', 'start at this change')
    .option('--max-age <duration>', 'refuse a saved plan older than this, e.g. 4h (default: policy.planMaxAge, else no limit)')
    .option('--junit <file>', 'also write a JUnit XML report: one testcase per change')
    .option('--rehearse', 'rollback rehearsal (staging or sandbox): after each change is verified, roll it back, prove every file and crontab it touched is byte-identical to before and its rehearse checks pass, then apply it again', false)
    .option('--reapply <change>', 'apply this change again although an earlier run applied it (from another definition, or the same one); journals what it replaces (repeatable)', collect, [])
    .action(action<ApplyOptions>(() => import('./commands/apply.js'), setCode));

  withHosts(withCommon(program.command('rollback').argument('<file>', 'runbook YAML').description('undo what a run applied, in reverse order')))
    .option('--run <id>', 'undo only this run (default: every run that left changes applied, newest first)')
    .option('--to <change>', 'roll back down to and including this change only')
    .option('--checkpoint', "also reset the git checkout to the run's checkpoint commit", false)
    .option('--force', 'overwrite what others changed since the apply: restore files edited since (and files that held a secret rotated since), and with --checkpoint reset a tree that has changes not the run’s own', false)
    .option('--yes', 'do not ask for confirmation', false)
    .option('--junit <file>', 'also write a JUnit XML report: one testcase per change')
    .action(action<RollbackOptions>(() => import('./commands/rollback.js'), setCode));

  withCommon(program.command('status').argument('<file>', 'runbook YAML').description('what is applied now, the lock, unfinished runs'))
    .action(action<CommonOptions>(() => import('./commands/status.js'), setCode));

  withCommon(program.command('history').argument('<file>', 'runbook YAML').description('past runs and their outcomes'))
    .option('--prune <n>', 'remove all but the newest N runs and the snapshots no run needs (never a run that still has applied changes or is unfinished)')
    .action(action<HistoryOptions>(() => import('./commands/history.js'), setCode));

  withCommon(program.command('report').argument('<file>', 'runbook YAML').description('write a run (default: the latest) as one self-contained HTML page: timeline, risk table, failures, what was undone, who ran it where'))
    .option('--run <id>', 'the run to report (default: the latest)')
    .requiredOption('--html <file>', 'the HTML file to write')
    .action(action<ReportOptions>(() => import('./commands/report.js'), setCode));

  withCommon(program.command('unlock').argument('<file>', 'runbook YAML').description('clear a stale lock (a live one only with --force)'))
    .option('--force', 'clear even a lock whose process is alive', false)
    .action(action<UnlockOptions>(() => import('./commands/unlock.js'), setCode));

  const state = program.command('state').description('manage the state backend');
  withCommon(
    state
      .command('migrate')
      .argument('[file]', 'runbook YAML (its state dir is the default --from)')
      .description('copy run journals (a file state dir such as .runbook, or the fallback journals kept while the database was unreachable) into the PostgreSQL backend'),
  )
    .option('--from <dir>', 'a state dir (.runbook) or a fallback dir (.runbook/fallback)')
    .option('--to <url>', 'the PostgreSQL state URL, postgres://…[?schema=name] (default: --state / RUNBOOK_STATE)')
    .action(action<MigrateOptions>(() => import('./commands/state-migrate.js'), setCode));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    return reportError(error, argv.includes('--verbose'));
  }
}
