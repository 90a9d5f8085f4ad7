import type { ResolvedStep } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';

const MAX_WHAT = 120;

/**
 * What a step does, in its type's own words (describe()), on one line: a multi-line script shows
 * its first line and "…". Undefined when its label already says exactly that.
 */
export function stepWhat(step: ResolvedStep): string | undefined {
  const what = stepType(step.type)?.describe(step.params as never);
  if (what === undefined || what === step.label) return undefined;
  const lines = what.trim().split('\n');
  const first = lines[0]!.trim();
  const cut = first.length > MAX_WHAT ? `${first.slice(0, MAX_WHAT - 1)}…` : first;
  return lines.length > 1 && !cut.endsWith('…') ? `${cut} …` : cut;
}
