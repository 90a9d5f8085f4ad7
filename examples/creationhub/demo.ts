/**
 * `npm run demo`: the seed's Phase 1 on the local sandbox — sandbox up → plan → apply with a
 * rollback rehearsal (each change applied, verified, rolled back, its undo proven, applied
 * again) → plan again (the last rehearsal of each change) → status → rollback → sandbox down
 * (always, also on failure). `-- --no-rehearse`: a plain apply, and no second plan.
 * `npm run demo:compose` (`--docker`): the same on the compose sandbox, a real Docker engine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { composeSandboxUp, composeStatus } from './compose-sandbox.js';
import { sandboxDown, sandboxUp } from './sandbox.js';
import { repoRoot, stateDir } from './state.js';

const cli = join(repoRoot, 'bin', 'runbook.js');
const runbook = join(repoRoot, 'runbooks', 'phase1.yaml');

function section(title: string): void {
  process.stdout.write(`\n\x1b[1m━━ ${title} ${'━'.repeat(Math.max(0, 70 - title.length))}\x1b[0m\n\n`);
}

function runbookCli(args: string[], stateDirPath: string, varsFile: string): number {
  process.stdout.write(`$ runbook ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args, '--vars-file', varsFile, '--state-dir', stateDirPath], { stdio: 'inherit', cwd: repoRoot });
  return r.status ?? 1;
}

/** The seed's check for change 1, `ls backups/auto/`, and the backup's own log. */
function showBackups(appDir: string): void {
  const dir = join(appDir, 'backups', 'auto');
  if (!existsSync(dir)) return;
  process.stdout.write(`\n$ ls -l backups/auto/\n`);
  for (const name of readdirSync(dir).sort()) {
    const st = statSync(join(dir, name));
    process.stdout.write(`  ${(st.mode & 0o777).toString(8)}  ${String(st.size).padStart(8)}  ${name}\n`);
  }
  process.stdout.write(`$ tail backups/auto/backup.log\n${readFileSync(join(dir, 'backup.log'), 'utf8').trimEnd().replace(/^/gm, '  ')}\n`);
}

async function main(): Promise<number> {
  const dir = stateDir();
  const started = Date.now();
  let failed = 0;
  const docker = process.argv.includes('--docker');
  const rehearse = !process.argv.includes('--no-rehearse');
  const total = rehearse ? 7 : 6;
  section(`1/${total}  Sandbox up: PostgreSQL, system-api, dashboard on 127.0.0.1${docker ? ' — docker compose on a Docker engine of its own' : ''}`);
  const crontabBefore = spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stdout;
  const state = docker ? await composeSandboxUp(dir, { throwaway: true }) : await sandboxUp(dir, { throwaway: true });
  if (docker) process.stdout.write(`${composeStatus(state)}\n\n`);
  try {
    const vars = join(dir, 'vars.yaml');
    const runs = join(dir, 'runbook-state');
    process.stdout.write(`app ${state.appDir} · API http://127.0.0.1:${state.apiPort}/health · dashboard http://127.0.0.1:${state.dashboardPort}/\n`);
    const steps: [string, string[], number][] = [
      ['Plan: review the risks', ['plan', runbook], 0],
      rehearse
        ? ['Apply with a rollback rehearsal: each change applied, verified, rolled back, its undo proven exact, applied again', ['apply', runbook, '--yes', '--rehearse'], 0]
        : ['Apply: one change at a time, verified after each', ['apply', runbook, '--yes'], 0],
      ...(rehearse ? [['Plan again: the last rehearsal of each change, from history', ['plan', runbook], 0] as [string, string[], number]] : []),
      ['Status', ['status', runbook], 0],
      ['Rollback: undo what the run applied, in reverse order', ['rollback', runbook, '--yes'], 0],
    ];
    for (const [i, [title, args, expected]] of steps.entries()) {
      section(`${i + 2}/${total}  ${title}`);
      const code = runbookCli(args, runs, vars);
      if (code !== expected) {
        process.stderr.write(`\n✖ runbook ${args[0]} exited ${code}\n`);
        failed++;
        if (args[0] === 'apply') break;
      }
      if (args[0] === 'apply') showBackups(state.appDir);
      if (docker && args[0] !== 'plan') process.stdout.write(`\n${composeStatus(state)}\n`);
    }
    const crontabAfter = spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stdout;
    if (crontabAfter !== crontabBefore) {
      process.stderr.write('✖ the crontab differs from before the demo\n');
      failed++;
    }
  } finally {
    section(`${total}/${total}  Sandbox down`);
    await sandboxDown(dir);
    process.stdout.write('sandbox stopped and removed\n');
  }
  process.stdout.write(`\n${failed ? '✖ demo failed' : '✅ demo finished'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`demo: ${error.message}\n`);
    process.exitCode = 1;
  },
);
