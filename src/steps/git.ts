import { resolve } from 'node:path';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { takeCheckpoint } from './kit/git-checkpoint.js';
import { resetToCheckpoint } from './kit/git-reset.js';

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

export type GitParams =
  | { dir: string; checkpoint: string }
  | { dir: string; revert: string }
  | { dir: string; reset: string; force?: boolean };

export const gitStep: StepType<GitParams> = {
  type: 'git',
  summary: 'Git on a checkout: commit a checkpoint, revert a commit, or reset to a commit (guarded).',
  commands: () => ['git'],
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['dir'],
    properties: {
      dir: { type: 'string', minLength: 1, description: 'The checkout.' },
      checkpoint: { type: 'string', minLength: 1, description: 'Commit everything not ignored with this message (a clean tree just records HEAD); refuses untracked files that look like secrets or are over 10 MB.' },
      revert: { type: 'string', minLength: 1, description: 'Revert this commit (a new commit undoing it).' },
      reset: { type: 'string', minLength: 1, description: 'Return files, index and HEAD to this commit; "checkpoint" means the run’s checkpoint. Refuses when changes that are not the run’s own would be discarded unless `force`; never deletes files created since by others.' },
      force: { type: 'boolean', description: 'With `reset`: discard changed files and commits that are not the run’s own.' },
    },
    oneOf: [{ required: ['checkpoint'] }, { required: ['revert'] }, { required: ['reset'] }],
  },
  kind: 'action',
  describe(p) {
    if ('checkpoint' in p) return `git commit -A in ${p.dir}: "${p.checkpoint}"`;
    if ('revert' in p) return `git revert ${p.revert} in ${p.dir}`;
    return `reset ${p.dir} to ${p.reset} (files, index, HEAD)`;
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
