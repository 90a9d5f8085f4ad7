import type { Diagnostic } from '../model/diagnostic.js';
import { stepType, stepTypeNames } from '../steps/registry.js';
import { nodeAt, nodeOffset, posAt, type YamlSource } from './source.js';

type Raw = Record<string, unknown>;

/** A step's type key; `env` counts only when no other type key is present (it doubles as a common key). */
export function stepTypeOf(raw: Raw): string | undefined {
  return stepTypeNames.find((t) => t !== 'env' && t in raw) ?? ('env' in raw ? 'env' : undefined);
}

/** How a rollback can treat an apply step: undone by its own inverse, nothing to undo, or neither. */
function undoOf(step: unknown): 'inverse' | 'nothing' | 'manual' | undefined {
  if (step === null || typeof step !== 'object') return undefined;
  const type = stepTypeOf(step as Raw);
  const def = type ? stepType(type) : undefined;
  if (!def) return undefined;
  try {
    const params = def.normalize ? def.normalize((step as Raw)[type!]) : (step as Raw)[type!];
    if (def.inverse !== undefined && (def.invertible?.(params as never) ?? false)) return 'inverse';
    const kind = typeof def.kind === 'function' ? def.kind(params as never) : def.kind;
    return kind === 'check' ? 'nothing' : 'manual';
  } catch {
    return undefined;
  }
}

const NONE_HINT = 'rollback: { none: "<why it cannot be undone>" }';

/**
 * Rules across a change: ids are unique; a change without `rollback` must consist of steps that
 * undo themselves (file, cron) or change nothing (checks, wait); an empty `rollback` list, which
 * would undo nothing, is only allowed when nothing needs undoing; `undo: apply` stands only in a
 * rollback list, once, and only where an apply step has an inverse.
 */
export function changeDiagnostics(src: YamlSource, data: Raw): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const changes = Array.isArray(data.changes) ? (data.changes as unknown[]) : [];
  // Where each id was first used, as the change's index: positions are looked up only for a duplicate.
  const seen = new Map<string, number>();
  const at = (path: (string | number)[]) => posAt(src, nodeOffset(nodeAt(src.doc, path).node) ?? 0);
  const isUndo = (step: unknown) => step !== null && typeof step === 'object' && stepTypeOf(step as Raw) === 'undo';
  const misplaced = (list: unknown, path: (string | number)[]) => {
    if (!Array.isArray(list)) return;
    list.forEach((step, k) => {
      if (isUndo(step)) diagnostics.push({ code: 'misplaced-undo', message: '`undo: apply` belongs in a change\'s rollback list, where it stands for the inverses of that change\'s apply steps', pos: at([...path, k]) });
    });
  };
  misplaced(data.preflight, ['preflight']);
  changes.forEach((c, i) => {
    if (c === null || typeof c !== 'object') return;
    const change = c as Raw;
    misplaced(change.apply, ['changes', i, 'apply']);
    misplaced(change.verify, ['changes', i, 'verify']);
    misplaced(change.rehearse, ['changes', i, 'rehearse']);
    const id = change.id;
    if (typeof id === 'string') {
      const first = seen.get(id);
      if (first !== undefined) diagnostics.push({ code: 'duplicate-id', message: `duplicate change id "${id}" (first used at line ${at(['changes', first, 'id']).line})`, pos: at(['changes', i, 'id']) });
      else seen.set(id, i);
    }
    if (!Array.isArray(change.apply)) return;
    const undo = (change.apply as unknown[]).map(undoOf);
    if (Array.isArray(change.rollback)) {
      const undoAt = (change.rollback as unknown[]).flatMap((step, k) => (isUndo(step) ? [k] : []));
      for (const k of undoAt.slice(1)) diagnostics.push({ code: 'duplicate-undo', message: `change "${String(id)}" has \`undo: apply\` twice in its rollback: the apply steps would be undone twice`, pos: at(['changes', i, 'rollback', k]) });
      if (undoAt.length && !undo.includes('inverse')) {
        diagnostics.push({
          code: 'undo-nothing',
          message: `change "${String(id)}": \`undo: apply\` would undo nothing, since none of its apply steps undoes itself (file, cron); write the steps that undo it instead`,
          pos: at(['changes', i, 'rollback', undoAt[0]!]),
        });
      }
    }
    if (change.rollback === undefined) {
      undo.forEach((how, k) => {
        if (how !== 'manual') return;
        const type = stepTypeOf((change.apply as Raw[])[k]!);
        diagnostics.push({
          code: 'not-invertible',
          message: `change "${String(id)}" has no rollback, and its apply step ${k + 1} (${type}) cannot be undone automatically: add rollback steps, or ${NONE_HINT} if it cannot be undone`,
          pos: at(['changes', i, 'apply', k]),
        });
      });
    } else if (Array.isArray(change.rollback) && change.rollback.length === 0 && undo.some((how) => how === 'manual' || how === 'inverse')) {
      diagnostics.push({
        code: 'empty-rollback',
        message: `change "${String(id)}" has an empty rollback, so a failure would leave it applied: list the steps that undo it, leave rollback out when every apply step undoes itself (file, cron), or write ${NONE_HINT}`,
        pos: at(['changes', i, 'rollback']),
      });
    }
  });
  return diagnostics;
}
