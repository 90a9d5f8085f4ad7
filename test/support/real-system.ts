import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', ...args], { cwd: dir, encoding: 'utf8' });
}

/** What `git status` shows and what HEAD and the index hold: the checkout as the operator sees it. */
export function gitState(repo: string) {
  return {
    head: git(repo, 'rev-parse', 'HEAD').trim(),
    branch: git(repo, 'symbolic-ref', '-q', 'HEAD').trim(),
    index: git(repo, 'write-tree').trim(),
    status: git(repo, 'status', '--porcelain', '--untracked-files=all', '--ignored'),
  };
}

/** A repo, a table (all_steps_items), a crontab entry and compose services — every real-system step in one runbook. */
export function realSystemRunbook(url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-all-'));
  const repo = join(dir, 'repo');
  execFileSync('mkdir', ['-p', repo]);
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'config.ini'), 'mode=old\n');
  writeFileSync(join(repo, 'staged.txt'), 'v1\n');
  writeFileSync(join(repo, 'unstaged.txt'), 'v1\n');
  writeFileSync(join(repo, '.gitignore'), '*.log\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'initial');
  // The operator's work in progress, which the checkpoint commits and the undo must give back
  // exactly: staged, staged then edited again, unstaged, untracked, ignored.
  writeFileSync(join(repo, 'staged.txt'), 'v2 staged\n');
  git(repo, 'add', 'staged.txt');
  writeFileSync(join(repo, 'staged.txt'), 'v3 edited after staging\n');
  writeFileSync(join(repo, 'unstaged.txt'), 'v2 unstaged\n');
  writeFileSync(join(repo, 'notes.txt'), 'uncommitted work of the operator\n');
  writeFileSync(join(repo, 'debug.log'), 'ignored\n');
  // docker has no engine on these machines: a stand-in executable records what it was asked to do.
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\necho "$@" >> ${join(dir, 'docker.calls')}\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  const runbook = join(dir, 'all.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: all-steps
vars: { repo: "${repo}", db: "${url}", fail: "no" }
secrets: [db]
checkpoint: { git: { dir: "{{ repo }}", message: "checkpoint: before all-steps" } }
preflight:
  - postgres: { url: "{{ db }}", ready: true }
changes:
  - id: data
    title: Insert a row
    risk: 1
    apply:
      - postgres: { url: "{{ db }}", exec: "insert into all_steps_items (id, name) values (100, 'new')" }
    verify:
      - postgres: { url: "{{ db }}", query: "select count(*) from all_steps_items where id = $1", params: [100], expect: 1 }
    rollback:
      - postgres: { url: "{{ db }}", exec: "delete from all_steps_items where id = 100" }
  - id: cron
    title: Nightly job
    risk: 0
    apply:
      - cron: { id: all-steps-job, schedule: "0 3 * * *", command: "echo nightly" }
  - id: config
    title: Config and restart
    risk: 1
    apply:
      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=old", to: "mode=new" } }
      - compose: { action: restart, services: [api], dir: "{{ repo }}", cli: docker compose }
    verify:
      - run: "test {{ fail }} = no"
    rollback:
      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=new", to: "mode=old" } }
      - compose: { action: restart, services: [api], dir: "{{ repo }}", cli: docker compose }
`,
  );
  return { dir, repo, runbook, env: { PATH: `${bin}:${process.env.PATH}` } };
}
