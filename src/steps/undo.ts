import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';

/**
 * `undo: apply`, in a rollback list only: at that place, the inverses of this change's
 * invertible apply steps (those that started), in reverse order — the automatic undo, kept
 * beside hand-written steps (`rollback: [ { undo: apply }, { run: "systemctl restart app" } ]`).
 * The rollback engine expands it from the journal (history/applied-state.ts `undoSteps`); the
 * loader refuses it anywhere else, so `run` is never reached.
 */
export const undoStep: StepType<'apply'> = {
  type: 'undo',
  summary: 'In a rollback list: the inverses of the change’s invertible apply steps (file, cron), in reverse order, at this place.',
  schema: { enum: ['apply'], description: 'Only `apply`: the automatic undo of this change’s apply steps, at this place in its rollback list.' },
  kind: 'action',
  describe() {
    return 'undo the apply steps (their inverses, in reverse order)';
  },
  async run() {
    throw new StepFailedError('`undo: apply` only has a meaning in a rollback list (the inverses of the change’s apply steps)');
  },
};
