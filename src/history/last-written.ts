import type { ResolvedStep } from '../model/runbook.js';
import { remaining, type ChangeState } from './applied-state.js';
import type { RunView } from './runs.js';

/** A `file` inverse as journaled: the path and the fingerprints of before and after the step. */
interface FileRestore {
  path: string;
  restore: { leftSha256: string | null; follow: boolean };
}

function fileRestore(step: ResolvedStep): FileRestore | undefined {
  const p = step.params as Partial<FileRestore> | null;
  return step.type === 'file' && typeof p?.path === 'string' && p.restore && 'leftSha256' in p.restore ? (p as FileRestore) : undefined;
}

/**
 * The inverse steps of every still-applied change (runs oldest first, changes and steps in apply
 * order), each `file` restore's "as the apply left it" fingerprint replaced by what the runs
 * themselves last wrote to that path: when two changes edit one file, the first one's own
 * "after" is no longer on disk, and that is not someone else's doing. Pure.
 */
export function inversesAgainstLastWrite(runs: RunView[]): Map<ChangeState, ResolvedStep[]> {
  const last = new Map<string, string | null>();
  const applied = runs.flatMap((r) => remaining(r.state));
  for (const change of applied) {
    for (const step of change.inverses.flat()) {
      const file = fileRestore(step);
      if (file) last.set(file.path, file.restore.leftSha256);
    }
  }
  return new Map(
    applied.map((change) => [
      change,
      change.inverses.flat().map((step) => {
        const file = fileRestore(step);
        if (!file || !last.has(file.path)) return step;
        return { ...step, params: { ...file, restore: { ...file.restore, leftSha256: last.get(file.path) } } };
      }),
    ]),
  );
}
