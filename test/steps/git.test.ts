import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { changedSince, foreignChanges, gitStep, resetToCheckpoint, takeCheckpoint, type GitParams } from '../../src/steps/git.js';
import { git } from '../support/real-system.js';
import { failure, stepCtx } from '../support/step-context.js';

const root = mkdtempSync(join(tmpdir(), 'runbook-steps-git-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A real repository with one commit: config.ini and src/app.txt. */
function newRepo(): string {
  const dir = join(root, `repo${++n}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'config.ini'), 'mode=old\n');
  writeFileSync(join(dir, 'src', 'app.txt'), 'app v1\n');
  writeFileSync(join(dir, '.gitignore'), '*.log\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

const head = (dir: string) => git(dir, 'rev-parse', 'HEAD').trim();
const status = (dir: string) => git(dir, 'status', '--porcelain');
const read = (dir: string, path: string) => readFileSync(join(dir, path), 'utf8');

describe('git checkpoint', () => {
  it('on a dirty tree commits everything, tracked and untracked, and HEAD moves to it', async () => {
    const dir = newRepo();
    const before = head(dir);
    writeFileSync(join(dir, 'config.ini'), 'mode=edited-by-operator\n');
    writeFileSync(join(dir, 'notes.txt'), 'uncommitted work\n');
    const cp = await takeCheckpoint(dir, 'checkpoint: before deploy');
    expect(cp.createdCommit).toBe(true);
    expect(cp.commit).toBe(head(dir));
    expect(cp.commit).not.toBe(before);
    expect(git(dir, 'rev-parse', 'HEAD~1').trim()).toBe(before);
    expect(git(dir, 'log', '-1', '--format=%s').trim()).toBe('checkpoint: before deploy');
    expect(status(dir)).toBe('');
    expect(git(dir, 'show', 'HEAD:notes.txt')).toBe('uncommitted work\n');
    // The operator's files are untouched by the checkpoint.
    expect(read(dir, 'config.ini')).toBe('mode=edited-by-operator\n');
  });

  it('on a clean tree records HEAD without a new commit', async () => {
    const dir = newRepo();
    const before = head(dir);
    const cp = await takeCheckpoint(dir, 'checkpoint');
    expect(cp).toEqual({ commit: before, createdCommit: false });
    expect(head(dir)).toBe(before);
    expect(git(dir, 'rev-list', '--count', 'HEAD').trim()).toBe('1');
  });

  it('ignored files stay out of the checkpoint', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'debug.log'), 'noise\n');
    const cp = await takeCheckpoint(dir, 'checkpoint');
    expect(cp.createdCommit).toBe(false);
  });

  it('in a repository without any commit yet, creates the first one', async () => {
    const dir = join(root, `empty${++n}`);
    mkdirSync(dir);
    git(dir, 'init', '-q', '-b', 'main');
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const cp = await takeCheckpoint(dir, 'first checkpoint');
    expect(cp.createdCommit).toBe(true);
    expect(head(dir)).toBe(cp.commit);
  });

  it('a directory that is not a git checkout fails clearly', async () => {
    const dir = join(root, `plain${++n}`);
    mkdirSync(dir);
    const e = await failure(takeCheckpoint(dir, 'x'));
    expect(e.message).toMatch(new RegExp(`^${dir} is not a git checkout`));
  });

  it('the git step with checkpoint reports the commit in its data', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'config.ini'), 'mode=dirty\n');
    const r = await gitStep.run({ dir, checkpoint: 'checkpoint: step' }, stepCtx(root));
    expect(r.data).toEqual({ commit: head(dir), createdCommit: true });
    expect(r.detail).toBe(`committed ${head(dir).slice(0, 12)}`);
  });
});

describe('git reset to the checkpoint', () => {
  it("restores the tree bytes and HEAD after the run's own changes", async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'notes.txt'), 'operator notes\n');
    const cp = await takeCheckpoint(dir, 'checkpoint');
    // The run changes a tracked file, adds a file and deletes one.
    writeFileSync(join(dir, 'config.ini'), 'mode=new\n');
    writeFileSync(join(dir, 'src', 'generated.txt'), 'generated\n');
    rmSync(join(dir, 'src', 'app.txt'));
    const r = await resetToCheckpoint(dir, cp.commit, { force: false, ownPaths: [join(dir, 'config.ini'), 'src/generated.txt', join(dir, 'src', 'app.txt')] });
    expect(r.foreign).toEqual([]);
    expect(head(dir)).toBe(cp.commit);
    expect(status(dir)).toBe('');
    expect(read(dir, 'config.ini')).toBe('mode=old\n');
    expect(read(dir, 'src/app.txt')).toBe('app v1\n');
    expect(read(dir, 'notes.txt')).toBe('operator notes\n');
    expect(existsSync(join(dir, 'src', 'generated.txt'))).toBe(false);
  });

  it('refuses when a file the run did not write has changed, lists it, and touches nothing', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'config.ini'), 'mode=new\n');
    writeFileSync(join(dir, 'src', 'app.txt'), 'hotfix by a colleague\n');
    writeFileSync(join(dir, 'their-new-file.txt'), 'theirs\n');
    const e = await failure(resetToCheckpoint(dir, cp.commit, { force: false, ownPaths: ['config.ini'] }));
    expect(e.message).toBe(
      `refusing to reset ${dir} to ${cp.commit.slice(0, 12)}: it has changes that are not this run's own:\n  changed: src/app.txt\n  changed: their-new-file.txt\nlook at them, then use --force to discard them`,
    );
    expect(e.command).toBe(`git -C ${dir} reset --hard ${cp.commit.slice(0, 12)}`);
    expect(read(dir, 'config.ini')).toBe('mode=new\n');
    expect(read(dir, 'src/app.txt')).toBe('hotfix by a colleague\n');
    expect(read(dir, 'their-new-file.txt')).toBe('theirs\n');
  });

  it('refuses when someone committed after the checkpoint, listing the commit', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'src', 'app.txt'), 'app v2\n');
    git(dir, 'commit', '-q', '-am', 'colleague: bump app');
    const foreign = await foreignChanges(dir, cp.commit, []);
    expect(foreign).toEqual(['changed: src/app.txt', `commit:  ${git(dir, 'rev-parse', '--short', 'HEAD').trim()} colleague: bump app`]);
    const e = await failure(resetToCheckpoint(dir, cp.commit, { force: false, ownPaths: [] }));
    expect(e.message).toContain('colleague: bump app');
    expect(head(dir)).not.toBe(cp.commit);
  });

  it('force discards foreign changes and restores the checkpoint exactly', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'src', 'app.txt'), 'hotfix by a colleague\n');
    writeFileSync(join(dir, 'stray.txt'), 'stray\n');
    const r = await resetToCheckpoint(dir, cp.commit, { force: true, ownPaths: [] });
    expect(r.foreign).toEqual(['changed: src/app.txt', 'changed: stray.txt']);
    expect(head(dir)).toBe(cp.commit);
    expect(status(dir)).toBe('');
    expect(read(dir, 'src/app.txt')).toBe('app v1\n');
    expect(existsSync(join(dir, 'stray.txt'))).toBe(false);
  });

  it("recognises the run's own changes when the checkout dir is a subdirectory of the repository", async () => {
    // Documents expected behaviour: `git diff --name-only` prints paths from the repository root
    // ("app/config.ini") while own paths are taken relative to `dir` ("config.ini").
    const repoDir = newRepo();
    const dir = join(repoDir, 'app');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.ini'), 'app mode=old\n');
    git(repoDir, 'add', '-A');
    git(repoDir, 'commit', '-q', '-m', 'app dir');
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'config.ini'), 'app mode=new\n');
    writeFileSync(join(dir, 'added.txt'), 'added by the run\n');
    expect(await foreignChanges(dir, cp.commit, [join(dir, 'config.ini'), join(dir, 'added.txt')])).toEqual([]);
    await resetToCheckpoint(dir, cp.commit, { force: false, ownPaths: [join(dir, 'config.ini'), join(dir, 'added.txt')] });
    expect(read(dir, 'config.ini')).toBe('app mode=old\n');
    expect(existsSync(join(dir, 'added.txt'))).toBe(false);
  });

  it('changedSince lists staged, unstaged and untracked paths, not ignored ones', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'config.ini'), 'x\n');
    git(dir, 'add', 'config.ini');
    writeFileSync(join(dir, 'src', 'app.txt'), 'y\n');
    writeFileSync(join(dir, 'untracked.txt'), 'z\n');
    writeFileSync(join(dir, 'ignored.log'), 'ignored\n');
    expect(await changedSince(dir, cp.commit)).toEqual(['config.ini', 'src/app.txt', 'untracked.txt']);
  });

  it('the git step resets to the run\'s recorded checkpoint ("reset: checkpoint")', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'src', 'app.txt'), 'changed\n');
    const refused = await failure(gitStep.run({ dir, reset: 'checkpoint' }, stepCtx(root, { recorded: { checkpointCommit: cp.commit } })));
    expect(refused.message).toContain('changed: src/app.txt');
    const r = await gitStep.run({ dir, reset: 'checkpoint', force: true }, stepCtx(root, { recorded: { checkpointCommit: cp.commit } }));
    expect(r.detail).toBe(`reset to ${cp.commit.slice(0, 12)}`);
    expect(read(dir, 'src/app.txt')).toBe('app v1\n');
  });

  it('the git step with "reset: checkpoint" fails clearly when no checkpoint was recorded', async () => {
    const dir = newRepo();
    const e = await failure(gitStep.run({ dir, reset: 'checkpoint' }, stepCtx(root)));
    expect(e.message).toBe('no checkpoint was recorded for this run');
  });
});

describe('git revert step', () => {
  it('reverts a commit with a new commit, restoring the file bytes', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'config.ini'), 'mode=bad\n');
    git(dir, 'commit', '-q', '-am', 'bad change');
    const bad = head(dir);
    const r = await gitStep.run({ dir: '.', revert: bad }, stepCtx(dir));
    expect(r.detail).toBe(`reverted ${bad}`);
    expect(read(dir, 'config.ini')).toBe('mode=old\n');
    expect(git(dir, 'rev-parse', 'HEAD~1').trim()).toBe(bad);
    expect(git(dir, 'log', '-1', '--format=%s').trim()).toBe('Revert "bad change"');
    expect(status(dir)).toBe('');
  });

  it('a revert that conflicts fails, is aborted, and leaves the checkout as it was', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'config.ini'), 'mode=first\n');
    git(dir, 'commit', '-q', '-am', 'first');
    const first = head(dir);
    writeFileSync(join(dir, 'config.ini'), 'mode=second\n');
    git(dir, 'commit', '-q', '-am', 'second');
    const before = head(dir);
    const e = await failure(gitStep.run({ dir, revert: first } as GitParams, stepCtx(root)));
    expect(e.message).toMatch(/^git revert failed: /);
    expect(e.command).toBe(`git -C ${dir} revert --no-edit ${first}`);
    expect(head(dir)).toBe(before);
    expect(status(dir)).toBe('');
    expect(read(dir, 'config.ini')).toBe('mode=second\n');
  });

  it('reverting a commit that does not exist fails naming it', async () => {
    const dir = newRepo();
    const e = await failure(gitStep.run({ dir, revert: 'deadbeef' }, stepCtx(root)));
    expect(e.message).toMatch(/^git revert failed: /);
    expect(e.command).toContain('deadbeef');
  });
});
