import { isAbsolute, relative, resolve } from 'node:path';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';

/** Commits made by runbook use this identity unless the repository has its own. */
const IDENTITY = ['-c', 'user.name=runbook', '-c', 'user.email=runbook@localhost'];

async function repo(dir: string) {
  const { simpleGit } = await import('simple-git');
  const git = simpleGit({ baseDir: dir, config: [] });
  try {
    if (!(await git.checkIsRepo())) throw new Error('not a git repository');
  } catch (error) {
    throw new StepFailedError(`${dir} is not a git checkout: ${(error as Error).message.split('\n')[0]}`, { command: `git -C ${dir} status` });
  }
  return git;
}

async function hasIdentity(git: Awaited<ReturnType<typeof repo>>): Promise<boolean> {
  const name = await git.raw(['config', '--get', 'user.name']).catch(() => '');
  const email = await git.raw(['config', '--get', 'user.email']).catch(() => '');
  return name.trim() !== '' && email.trim() !== '';
}

/** Stages everything and commits; a clean tree records HEAD without a commit. */
export async function takeCheckpoint(dir: string, message: string): Promise<{ commit: string; createdCommit: boolean }> {
  const git = await repo(dir);
  try {
    await git.raw(['add', '-A']);
    const status = await git.status();
    const headExists = await git.raw(['rev-parse', '--verify', 'HEAD']).then(() => true, () => false);
    let created = false;
    if (!status.isClean() || !headExists) {
      const identity = (await hasIdentity(git)) ? [] : IDENTITY;
      await git.raw([...identity, 'commit', '--allow-empty', '--no-verify', '-q', '-m', message]);
      created = true;
    }
    const commit = (await git.raw(['rev-parse', 'HEAD'])).trim();
    return { commit, createdCommit: created };
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    throw new StepFailedError(`checkpoint failed: ${(error as Error).message.split('\n')[0]}`, { command: `git -C ${dir} commit -m ${JSON.stringify(message)}` });
  }
}

/** Paths (relative to the checkout) that differ from `commit`: committed since, staged, unstaged or untracked. */
export async function changedSince(dir: string, commit: string): Promise<string[]> {
  const git = await repo(dir);
  const diff = (await git.raw(['diff', '--name-only', '--relative', commit])).split('\n').filter(Boolean);
  const untracked = (await git.raw(['ls-files', '--others', '--exclude-standard'])).split('\n').filter(Boolean);
  return [...new Set([...diff, ...untracked])].sort();
}

/**
 * Returns the checkout to `commit` (HEAD and tree). Refuses when something changed since
 * that is not among `ownPaths` (files the run itself wrote), unless `force`.
 */
/** What changed in the checkout since `commit` that the run did not do itself. */
export async function foreignChanges(dir: string, commit: string, ownPaths: string[]): Promise<string[]> {
  const git = await repo(dir);
  const own = new Set(ownPaths.map((p) => (isAbsolute(p) ? relative(resolve(dir), p) : p)));
  const changed = (await changedSince(dir, commit)).filter((p) => !own.has(p)).map((p) => `changed: ${p}`);
  const head = (await git.raw(['rev-parse', 'HEAD'])).trim();
  const commits = head === commit ? [] : (await git.raw(['log', '--format=%h %s', `${commit}..HEAD`])).split('\n').filter(Boolean).map((c) => `commit:  ${c}`);
  return [...changed, ...commits];
}

export async function resetToCheckpoint(dir: string, commit: string, opts: { force: boolean; ownPaths: string[] }): Promise<{ foreign: string[] }> {
  const git = await repo(dir);
  const foreign = await foreignChanges(dir, commit, opts.ownPaths);
  if (!opts.force && foreign.length > 0) {
    const what = foreign.map((f) => `  ${f}`).join('\n');
    throw new StepFailedError(`refusing to reset ${dir} to ${commit.slice(0, 12)}: it has changes that are not this run's own:\n${what}\nlook at them, then use --force to discard them`, {
      command: `git -C ${dir} reset --hard ${commit.slice(0, 12)}`,
    });
  }
  await git.raw(['reset', '-q', '--hard', commit]);
  await git.raw(['clean', '-q', '-fd']);
  return { foreign };
}

export type GitParams =
  | { dir: string; checkpoint: string }
  | { dir: string; revert: string }
  | { dir: string; reset: string; force?: boolean };

export const gitStep: StepType<GitParams> = {
  type: 'git',
  summary: 'Git on a checkout: commit a checkpoint, revert a commit, or reset to a commit (guarded).',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['dir'],
    properties: {
      dir: { type: 'string', minLength: 1, description: 'The checkout.' },
      checkpoint: { type: 'string', minLength: 1, description: 'Stage everything and commit with this message (a clean tree just records HEAD).' },
      revert: { type: 'string', minLength: 1, description: 'Revert this commit (a new commit undoing it).' },
      reset: { type: 'string', minLength: 1, description: 'Reset tree and HEAD to this commit; "checkpoint" means the run’s checkpoint. Refuses when the tree has other changes unless `force`.' },
      force: { type: 'boolean', description: 'With `reset`: discard changes that are not the run’s own.' },
    },
    oneOf: [{ required: ['checkpoint'] }, { required: ['revert'] }, { required: ['reset'] }],
  },
  kind: 'action',
  describe(p) {
    if ('checkpoint' in p) return `git commit -A in ${p.dir}: "${p.checkpoint}"`;
    if ('revert' in p) return `git revert ${p.revert} in ${p.dir}`;
    return `git reset --hard ${p.reset} in ${p.dir}`;
  },
  invertible: () => false,
  async run(p, ctx) {
    const dir = resolve(ctx.cwd, p.dir);
    if ('checkpoint' in p) {
      const cp = await takeCheckpoint(dir, p.checkpoint);
      return { detail: `${cp.createdCommit ? 'committed' : 'clean tree at'} ${cp.commit.slice(0, 12)}`, data: { ...cp } };
    }
    const git = await repo(dir);
    if ('revert' in p) {
      try {
        const identity = (await hasIdentity(git)) ? [] : IDENTITY;
        await git.raw([...identity, 'revert', '--no-edit', p.revert]);
      } catch (error) {
        await git.raw(['revert', '--abort']).catch(() => undefined);
        throw new StepFailedError(`git revert failed: ${(error as Error).message.split('\n')[0]}`, { command: `git -C ${dir} revert --no-edit ${p.revert}` });
      }
      return { detail: `reverted ${p.revert}` };
    }
    const commit = p.reset === 'checkpoint' ? ctx.recorded.checkpointCommit : p.reset;
    if (!commit) throw new StepFailedError('no checkpoint was recorded for this run');
    await resetToCheckpoint(dir, commit, { force: p.force ?? false, ownPaths: [] });
    return { detail: `reset to ${commit.slice(0, 12)}` };
  },
};
