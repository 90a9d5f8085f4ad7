import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitStep, type GitParams } from '../../src/steps/git.js';
import { checkpointRefusal } from '../../src/steps/kit/git-checkpoint-guard.js';
import { commitCheckpoint, prepareCheckpoint, takeCheckpoint, undoCheckpoint } from '../../src/steps/kit/git-checkpoint.js';
import { diffFromCheckpoint, foreignChanges, resetToCheckpoint } from '../../src/steps/kit/git-reset.js';
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
    expect(e.message).toBe(`refusing to reset ${dir} to ${cp.commit.slice(0, 12)}: it has changes that are not this run's own:\n  changed: src/app.txt\nlook at them, then use --force to discard them`);
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
    expect(foreign).toEqual(['changed: src/app.txt', `commit:  ${head(dir).slice(0, 12)} colleague: bump app`]);
    const e = await failure(resetToCheckpoint(dir, cp.commit, { force: false, ownPaths: [] }));
    expect(e.message).toContain('colleague: bump app');
    expect(head(dir)).not.toBe(cp.commit);
  });

  it('force discards foreign changes and commits, but keeps files created since by others', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'src', 'app.txt'), 'hotfix by a colleague\n');
    rmSync(join(dir, 'config.ini'));
    writeFileSync(join(dir, 'stray.txt'), 'stray\n');
    mkdirSync(join(dir, 'backups'));
    writeFileSync(join(dir, 'backups', 'db.sql'), 'a backup taken since\n');
    writeFileSync(join(dir, 'staged-new.txt'), 'staged by a colleague\n');
    git(dir, 'add', 'staged-new.txt');
    const r = await resetToCheckpoint(dir, cp.commit, { force: true, ownPaths: [] });
    expect(r.foreign).toEqual(['deleted: config.ini', 'changed: src/app.txt']);
    expect(r.kept).toEqual(['backups/db.sql', 'staged-new.txt', 'stray.txt']);
    expect(head(dir)).toBe(cp.commit);
    expect(status(dir)).toBe('?? backups/\n?? staged-new.txt\n?? stray.txt\n');
    expect(read(dir, 'src/app.txt')).toBe('app v1\n');
    expect(read(dir, 'config.ini')).toBe('mode=old\n');
    expect(read(dir, 'stray.txt')).toBe('stray\n');
    expect(read(dir, 'backups/db.sql')).toBe('a backup taken since\n');
    expect(read(dir, 'staged-new.txt')).toBe('staged by a colleague\n');
  });

  it('force takes HEAD back over commits made since, listing them', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'src', 'app.txt'), 'app v2\n');
    writeFileSync(join(dir, 'src', 'added.txt'), 'added in a commit\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'colleague: v2');
    const theirs = head(dir);
    const r = await resetToCheckpoint(dir, cp.commit, { force: true, ownPaths: [] });
    expect(r.foreign).toEqual(['changed: src/app.txt', `commit:  ${theirs.slice(0, 12)} colleague: v2`]);
    expect(head(dir)).toBe(cp.commit);
    expect(read(dir, 'src/app.txt')).toBe('app v1\n');
    // A file that only their commit had is not deleted: it is left untracked.
    expect(r.kept).toEqual(['src/added.txt']);
    expect(status(dir)).toBe('?? src/added.txt\n');
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

  it('tells staged and unstaged changes (discarded by a reset) from untracked files (kept), and ignores ignored ones', async () => {
    const dir = newRepo();
    const cp = await takeCheckpoint(dir, 'checkpoint');
    writeFileSync(join(dir, 'config.ini'), 'x\n');
    git(dir, 'add', 'config.ini');
    writeFileSync(join(dir, 'src', 'app.txt'), 'y\n');
    writeFileSync(join(dir, 'untracked.txt'), 'z\n');
    writeFileSync(join(dir, 'ignored.log'), 'ignored\n');
    const d = await diffFromCheckpoint(dir, cp.commit, { ownPaths: [] });
    expect(d.changed).toEqual(['changed: config.ini', 'changed: src/app.txt']);
    expect(d.created).toEqual(['untracked.txt']);
    expect(d.commits).toEqual([]);
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

/** HEAD, its branch, the index and `git status` — what the operator sees of the checkout. */
function seen(dir: string) {
  const tryGit = (...args: string[]) => {
    try {
      return git(dir, ...args).trim();
    } catch {
      return null;
    }
  };
  return {
    head: tryGit('rev-parse', '--verify', '-q', 'HEAD'),
    branch: tryGit('symbolic-ref', '-q', 'HEAD'),
    index: git(dir, 'write-tree').trim(),
    status: git(dir, 'status', '--porcelain', '--untracked-files=all', '--ignored'),
  };
}

/** The operator's work in progress: staged, staged then edited, unstaged, untracked, ignored. */
function workInProgress(dir: string): void {
  writeFileSync(join(dir, 'config.ini'), 'mode=staged\n');
  git(dir, 'add', 'config.ini');
  writeFileSync(join(dir, 'config.ini'), 'mode=staged then edited\n');
  writeFileSync(join(dir, 'src', 'app.txt'), 'app v2, not staged\n');
  writeFileSync(join(dir, 'notes.txt'), 'notes\n');
  writeFileSync(join(dir, 'debug.log'), 'ignored\n');
}

async function checkpointOf(dir: string, message = 'checkpoint: before deploy', exclude: string[] = []) {
  const record = await prepareCheckpoint(dir, message, exclude);
  return { ...record, commit: await commitCheckpoint(record) };
}

describe('undoing the checkpoint commit', () => {
  it("gives back HEAD, the index (staged vs unstaged) and git status exactly; the files' bytes are untouched", async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const cp = await checkpointOf(dir);
    expect(head(dir)).toBe(cp.commit);
    expect(git(dir, 'rev-parse', 'HEAD~1').trim()).toBe(before.head);
    expect(git(dir, 'show', 'HEAD:notes.txt')).toBe('notes\n');
    expect(status(dir)).toBe('');
    const r = await undoCheckpoint(cp);
    expect(r).toEqual({ restored: true, commit: cp.commit });
    expect(seen(dir)).toEqual(before);
    expect(git(dir, 'show', ':config.ini')).toBe('mode=staged\n');
    expect(read(dir, 'config.ini')).toBe('mode=staged then edited\n');
    // Idempotent: a second undo (a rollback run again) changes nothing.
    expect(await undoCheckpoint(cp)).toEqual({ restored: true, commit: cp.commit });
    expect(seen(dir)).toEqual(before);
  });

  it('after a crash between journaling the checkpoint and journaling its commit, finds the commit by its tree and parent', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const { commit, ...journaled } = await checkpointOf(dir);
    expect(await undoCheckpoint(journaled)).toEqual({ restored: true, commit });
    expect(seen(dir)).toEqual(before);
  });

  it('after a crash before the commit was made, there is nothing to take back', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const journaled = await prepareCheckpoint(dir, 'checkpoint');
    expect(await undoCheckpoint(journaled)).toEqual({ restored: true, commit: null });
    expect(seen(dir)).toEqual(before);
  });

  it('after an undo cut short between moving HEAD back and restoring the index, finishes it', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const cp = await checkpointOf(dir);
    git(dir, 'update-ref', 'HEAD', before.head!, cp.commit);
    expect(await undoCheckpoint(cp)).toEqual({ restored: true, commit: cp.commit });
    expect(seen(dir)).toEqual(before);
  });

  it('when someone committed on top of the checkpoint, leaves HEAD alone and gives the command that finishes the job', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const cp = await checkpointOf(dir);
    writeFileSync(join(dir, 'theirs.txt'), 'theirs\n');
    git(dir, 'add', 'theirs.txt');
    git(dir, 'commit', '-q', '-m', 'colleague: theirs');
    const theirs = head(dir);
    const r = await undoCheckpoint(cp);
    expect(r).toEqual({
      restored: false,
      commit: cp.commit,
      reason: `HEAD moved on since (${theirs.slice(0, 12)} colleague: theirs)`,
      finish: `git -C ${dir} reset --soft ${before.head} && git -C ${dir} read-tree ${before.index}`,
    });
    expect(head(dir)).toBe(theirs);
    expect(status(dir)).toBe('');
    // The command does what it says: HEAD and index as before, their commit's file now untracked, no file changed.
    execSync(r.restored ? '' : r.finish);
    expect(seen(dir)).toEqual({ ...before, status: before.status.replace('?? notes.txt\n', '?? notes.txt\n?? theirs.txt\n') });
    expect(read(dir, 'theirs.txt')).toBe('theirs\n');
  });

  it('when files were staged since the checkpoint, or HEAD is on another branch, changes nothing and says why', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const cp = await checkpointOf(dir);
    writeFileSync(join(dir, 'staged-since.txt'), 'x\n');
    git(dir, 'add', 'staged-since.txt');
    const staged = seen(dir);
    expect(await undoCheckpoint(cp)).toMatchObject({ restored: false, reason: 'the index holds changes staged since the checkpoint' });
    expect(seen(dir)).toEqual(staged);
    git(dir, 'reset', '-q');
    git(dir, 'switch', '-q', '-c', 'other');
    const other = seen(dir);
    expect(await undoCheckpoint(cp)).toMatchObject({ restored: false, reason: 'HEAD is on other now; the checkpoint was taken on main' });
    expect(seen(dir)).toEqual(other);
  });

  it('in a repository without any commit yet: the checkpoint is the first commit, and the undo leaves the branch unborn again', async () => {
    const dir = join(root, `unborn${++n}`);
    mkdirSync(dir);
    git(dir, 'init', '-q', '-b', 'main');
    writeFileSync(join(dir, 'staged.txt'), 'staged\n');
    git(dir, 'add', 'staged.txt');
    writeFileSync(join(dir, 'untracked.txt'), 'untracked\n');
    const before = seen(dir);
    expect(before.head).toBeNull();
    const cp = await checkpointOf(dir);
    expect(head(dir)).toBe(cp.commit);
    expect(git(dir, 'rev-list', '--count', 'HEAD').trim()).toBe('1');
    expect(await undoCheckpoint(cp)).toEqual({ restored: true, commit: cp.commit });
    expect(seen(dir)).toEqual(before);
    expect(read(dir, 'untracked.txt')).toBe('untracked\n');
  });

  it('on a detached HEAD: the checkpoint commits there and the undo returns to the same detached commit', async () => {
    const dir = newRepo();
    git(dir, 'checkout', '-q', '--detach');
    workInProgress(dir);
    const before = seen(dir);
    expect(before.branch).toBeNull();
    const cp = await checkpointOf(dir);
    expect(git(dir, 'rev-parse', 'main').trim()).toBe(before.head);
    expect(await undoCheckpoint(cp)).toEqual({ restored: true, commit: cp.commit });
    expect(seen(dir)).toEqual(before);
  });

  it('a merge in progress or a conflicted index fails clearly before anything changes', async () => {
    const dir = newRepo();
    git(dir, 'switch', '-q', '-c', 'side');
    writeFileSync(join(dir, 'config.ini'), 'mode=side\n');
    git(dir, 'commit', '-q', '-am', 'side');
    git(dir, 'switch', '-q', 'main');
    writeFileSync(join(dir, 'config.ini'), 'mode=main\n');
    git(dir, 'commit', '-q', '-am', 'main');
    try {
      git(dir, 'merge', '-q', 'side');
    } catch {
      // the conflict is the point
    }
    const before = { head: head(dir), status: status(dir) };
    expect(before.status).toBe('UU config.ini\n');
    const e = await failure(prepareCheckpoint(dir, 'checkpoint'));
    expect(e.message).toBe(`${dir} is in the middle of a merge: finish or abort it before taking a checkpoint`);
    expect({ head: head(dir), status: status(dir) }).toEqual(before);
  });
});

describe('the git step\'s checkpoint, undone by its change\'s automatic rollback', () => {
  it('its inverse, journaled before the commit, gives back HEAD, the index and git status exactly', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const before = seen(dir);
    const ctx = stepCtx(dir);
    expect(gitStep.invertible!({ dir: '.', checkpoint: 'checkpoint: step' })).toBe(true);
    const [undo] = await gitStep.inverse!({ dir: '.', checkpoint: 'checkpoint: step' }, ctx);
    expect(undo!.params).toMatchObject({ dir, undoCheckpoint: { head: before.head, index: before.index } });
    expect(seen(dir)).toEqual(before);
    const r = await gitStep.run({ dir: '.', checkpoint: 'checkpoint: step' }, ctx);
    expect(head(dir)).toBe(r.data!.commit);
    const undone = await gitStep.run(undo!.params as GitParams, ctx);
    expect(undone.detail).toBe(`checkpoint commit ${String(r.data!.commit).slice(0, 12)} taken back`);
    expect(seen(dir)).toEqual(before);
    expect((await gitStep.run(undo!.params as GitParams, ctx)).detail).toBe('HEAD and the index are as before the checkpoint');
    expect(seen(dir)).toEqual(before);
  });

  it('on a clean tree it commits nothing and has nothing to undo', async () => {
    const dir = newRepo();
    const before = seen(dir);
    expect(await gitStep.inverse!({ dir, checkpoint: 'cp' }, stepCtx(dir))).toEqual([]);
    expect((await gitStep.run({ dir, checkpoint: 'cp' }, stepCtx(dir))).data).toEqual({ commit: before.head, createdCommit: false });
    expect(seen(dir)).toEqual(before);
  });

  it('refuses, changing nothing, when someone committed on top, and says how to finish', async () => {
    const dir = newRepo();
    workInProgress(dir);
    const ctx = stepCtx(dir);
    const [undo] = await gitStep.inverse!({ dir, checkpoint: 'cp' }, ctx);
    const r = await gitStep.run({ dir, checkpoint: 'cp' }, ctx);
    writeFileSync(join(dir, 'theirs.txt'), 'theirs\n');
    git(dir, 'add', 'theirs.txt');
    git(dir, 'commit', '-q', '-m', 'colleague: theirs');
    const theirs = seen(dir);
    const e = await failure(gitStep.run(undo!.params as GitParams, ctx));
    expect(e.message).toContain(`the checkpoint commit ${String(r.data!.commit).slice(0, 12)} is kept in ${dir}: HEAD moved on since (${theirs.head!.slice(0, 12)} colleague: theirs)`);
    expect(e.message).toContain(`to finish: git -C ${dir} reset --soft `);
    expect(seen(dir)).toEqual(theirs);
  });
});

describe('what a checkpoint refuses to commit', () => {
  const none = { exclude: [], include: [], secrets: new Map<string, string>() };
  const advice = 'ADVICE';

  it('refuses untracked files named like secrets, larger than 10 MB, or holding a secret value, naming each; nothing changes', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, '.env'), 'X=1\n');
    writeFileSync(join(dir, '.env.production'), 'X=2\n');
    writeFileSync(join(dir, 'server.pem'), 'cert\n');
    writeFileSync(join(dir, 'tls.key'), 'key\n');
    writeFileSync(join(dir, 'id_ed25519'), 'private\n');
    writeFileSync(join(dir, 'id_ed25519.pub'), 'public\n');
    mkdirSync(join(dir, 'backups'));
    writeFileSync(join(dir, 'backups', 'db.sql.gz'), '');
    truncateSync(join(dir, 'backups', 'db.sql.gz'), 39_000_000);
    writeFileSync(join(dir, 'notes.txt'), 'connect with postgres://app:s3cr3t-pw@db/app\n');
    writeFileSync(join(dir, 'fine.txt'), 'nothing secret\n');
    writeFileSync(join(dir, 'big.log'), '');
    truncateSync(join(dir, 'big.log'), 20_000_000); // ignored: never committed, never refused
    const before = seen(dir);
    const refusal = await checkpointRefusal(dir, { ...none, secrets: new Map([['DB_PASSWORD', 's3cr3t-pw']]) }, advice);
    expect(refusal).toBe(
      'the checkpoint would commit 7 untracked files that look like secrets or are large: ' +
        '.env (the name looks like a secret), .env.production (the name looks like a secret), backups/db.sql.gz (39 MB, over 10 MB), ' +
        'id_ed25519 (the name looks like a secret), notes.txt (holds the value of secret DB_PASSWORD), server.pem (the name looks like a secret), tls.key (the name looks like a secret); ADVICE',
    );
    expect(refusal).not.toContain('s3cr3t-pw');
    const e = await failure(takeCheckpoint(dir, 'checkpoint'));
    expect(e.message).toMatch(/^the checkpoint would commit 6 untracked files .*; add them to \.gitignore first$/);
    expect(seen(dir)).toEqual(before);
  });

  it('exclude leaves files out of the checkpoint (untracked and untouched, before and after the undo); include commits them anyway', async () => {
    const dir = newRepo();
    mkdirSync(join(dir, 'backups'));
    writeFileSync(join(dir, 'backups', 'db.sql.gz'), '');
    truncateSync(join(dir, 'backups', 'db.sql.gz'), 12_000_000);
    writeFileSync(join(dir, '.env.example'), 'X=\n');
    writeFileSync(join(dir, 'notes.txt'), 'notes\n');
    const files = { exclude: ['backups'], include: ['.env.example'], secrets: new Map<string, string>() };
    expect(await checkpointRefusal(dir, files, advice)).toBeUndefined();
    const before = seen(dir);
    const cp = await checkpointOf(dir, 'checkpoint', files.exclude);
    expect(git(dir, 'ls-tree', '-r', '--name-only', 'HEAD').split('\n').filter(Boolean)).toEqual(['.env.example', '.gitignore', 'config.ini', 'notes.txt', 'src/app.txt']);
    expect(status(dir)).toBe('?? backups/\n');
    expect((await diffFromCheckpoint(dir, cp.commit, { ownPaths: [], exclude: files.exclude })).created).toEqual([]);
    await undoCheckpoint(cp);
    expect(seen(dir)).toEqual(before);
  });

  it('a merge in progress is refused at preflight', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, '.git', 'MERGE_HEAD'), `${head(dir)}\n`);
    expect(await checkpointRefusal(dir, none, advice)).toBe(`${dir} is in the middle of a merge: finish or abort it first (a checkpoint now would record a half-done state)`);
  });
});
