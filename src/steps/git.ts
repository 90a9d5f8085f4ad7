import type { CheckpointRecord } from '../model/checkpoint.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { findCheckpointCommit, prepareCheckpoint, takeCheckpoint, undoCheckpoint } from './kit/git-checkpoint.js';
import { gitCommandText, gitOn, gitTry } from './kit/git-cli.js';
import { identityArgs, openCheckout } from './kit/git-repo.js';
import { resetToCheckpoint } from './kit/git-reset.js';

export type GitParams =
  | { dir: string; checkpoint: string }
  | { dir: string; revert: string }
  | { dir: string; reset: string; force?: boolean }
  /** Only in the journal, as the inverse of a `checkpoint`: take its commit back (not part of the schema). */
  | { dir: string; undoCheckpoint: CheckpointRecord };

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
      checkpoint: { type: 'string', minLength: 1, description: 'Commit everything not ignored with this message (a clean tree just records HEAD); refuses untracked files that look like secrets or are over 10 MB. The automatic rollback (no rollback list, or undo: apply) takes the commit back: HEAD and the index as before.' },
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
    if ('undoCheckpoint' in p) return `take back the checkpoint commit in ${p.dir} (HEAD and index as before)`;
    return `reset ${p.dir} to ${p.reset} (files, index, HEAD)`;
  },
  invertible: (p) => 'checkpoint' in p,
  async inverse(p, ctx): Promise<ResolvedStep[]> {
    if (!('checkpoint' in p)) return [];
    const dir = ctx.target.resolve(ctx.cwd, p.dir);
    // What the commit is made of and what HEAD and the index were, journaled before the commit exists.
    const { needsCommit, ...record } = await prepareCheckpoint(dir, p.checkpoint, [], gitOn(ctx));
    // A clean tree: the checkpoint is HEAD itself, no commit to take back.
    if (!needsCommit) return [];
    return [{ type: 'git', params: { dir, undoCheckpoint: record }, label: `take back the checkpoint in ${dir}` }];
  },
  async run(p, ctx) {
    const dir = ctx.target.resolve(ctx.cwd, p.dir);
    const on = gitOn(ctx);
    if ('checkpoint' in p) {
      const cp = await takeCheckpoint(dir, p.checkpoint, undefined, on);
      return { detail: `${cp.createdCommit ? 'committed' : 'clean tree at'} ${cp.commit.slice(0, 12)}`, data: { ...cp } };
    }
    if ('undoCheckpoint' in p) {
      const record = { ...p.undoCheckpoint, dir };
      const commit = await findCheckpointCommit(record, on);
      const r = await undoCheckpoint(commit ? { ...record, commit } : record, on);
      if (!r.restored) throw new StepFailedError(`the checkpoint${r.commit ? ` commit ${r.commit.slice(0, 12)}` : ''} is kept in ${dir}: ${r.reason}; to finish: ${r.finish}`);
      return { detail: r.commit ? `checkpoint commit ${r.commit.slice(0, 12)} taken back` : 'HEAD and the index are as before the checkpoint' };
    }
    if ('revert' in p) {
      await openCheckout(dir, on);
      const args = [...(await identityArgs(dir, on)), 'revert', '--no-edit', p.revert];
      const r = await gitTry(dir, args, {}, on);
      if (r.exitCode !== 0) {
        await gitTry(dir, ['revert', '--abort'], {}, on).catch(() => undefined);
        const said = `${r.stderr}\n${r.stdout}`.trim().split('\n').find((l) => l.trim() !== '') ?? `exit code ${r.exitCode}`;
        throw new StepFailedError(`git revert failed: ${said}`, { command: gitCommandText(dir, ['revert', '--no-edit', p.revert]) });
      }
      return { detail: `reverted ${p.revert}` };
    }
    // The loader refuses it in a change on hosts; a template that fills in "checkpoint" ends here.
    if (p.reset === 'checkpoint' && ctx.target.remote) throw new StepFailedError(`reset: checkpoint names the run's checkpoint, which is on this machine, not on ${ctx.target.name}`);
    const commit = p.reset === 'checkpoint' ? ctx.recorded.checkpointCommit : p.reset;
    if (!commit) throw new StepFailedError('no checkpoint was recorded for this run');
    await resetToCheckpoint(dir, commit, { force: p.force ?? false, ownPaths: [] }, on);
    return { detail: `reset to ${commit.slice(0, 12)}` };
  },
};
