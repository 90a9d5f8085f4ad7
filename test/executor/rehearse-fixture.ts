import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import { backend, journalText, stateUrlFor } from '../support/state-backend.js';

export const SECRET = 'hunter2-rehearsal-secret';

/**
 * A temp dir with `app.conf` (holding a secret on a line) and a runbook of the given changes:
 * `pool` edits the pool line (undone by its inverse, a `rehearse` check that the pool is 20
 * again); the others come from the test.
 */
export function rehearsalRunbook(changes: string, opts: { onFailure?: string; poolCheck?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-rehearse-'));
  const conf = join(dir, 'app.conf');
  writeFileSync(conf, `pool=20\nname=x token=${SECRET}\n`);
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: rehearsal
title: Rehearsal
vars: { dir: "${dir}" }
secrets: [TOKEN]
policy: { onFailure: ${opts.onFailure ?? 'rollback-all'} }
changes:
  - id: pool
    title: Pool 10
    risk: 0
    apply:
      - file: { path: app.conf, replace: { from: "pool=20", to: "pool=10" } }
    verify:
      - run: "grep -qx pool=10 app.conf"
    rehearse:
      - name: pool is 20 again
        run: "${opts.poolCheck ?? 'grep -qx pool=20 app.conf'}"
${changes}`,
  );
  const env = { TOKEN: SECRET };
  const cli = (args: string[]): CliResult => runCli(args, { cwd: dir, env });
  // `plan` reads history from the state the runs went to (the PostgreSQL leg's --state).
  const plan = (...args: string[]) => cli(['plan', runbook, ...args, ...(backend === 'postgres' ? ['--state', stateUrlFor(runbook)] : [])]);
  return { dir, conf, runbook, cli, plan, bytes: () => readFileSync(conf, 'utf8'), journal: () => journalText(dir) };
}

export const nameChange = (rollbackTo: string) => `  - id: name
    title: Name y
    risk: 0
    apply:
      - file: { path: app.conf, replace: { from: "name=x", to: "name=y" } }
    verify:
      - run: "grep -q name=y app.conf"
    rollback:
      - file: { path: app.conf, replace: { from: "name=y", to: "${rollbackTo}" } }
`;
