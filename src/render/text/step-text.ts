import type { Plan } from '../../model/plan.js';
import type { ResolvedStep } from '../../model/runbook.js';
import { CHECKPOINT_CHECK_WHAT, checkpointCheckLabel } from '../../plan/checkpoint-label.js';
import { stepType } from '../../steps/registry.js';

const MAX_LINE = 120;

/** What a step does, in its type's own words (describe()); undefined when its label already says exactly that. */
export function stepWhat(step: ResolvedStep): string | undefined {
  const what = stepType(step.type)?.describe(step.params as never);
  return what === undefined || what === step.label ? undefined : what;
}

/** stepWhat on one line, for tables and lists: a multi-line script shows its first line and "…". */
export function stepWhatLine(step: ResolvedStep): string | undefined {
  const what = stepWhat(step);
  if (what === undefined) return undefined;
  const lines = what.trim().split('\n');
  const first = lines[0]!.trim();
  const cut = first.length > MAX_LINE ? `${first.slice(0, MAX_LINE - 1)}…` : first;
  return lines.length > 1 && !cut.endsWith('…') ? `${cut} …` : cut;
}

/**
 * The checks apply runs before anything changes, as plan lists them: the runbook's preflight
 * steps (what each runs, in one line), then the checkpoint's own check when there is one.
 */
export function preflightLines(plan: Plan): { label: string; what?: string; prose?: true }[] {
  const lines: { label: string; what?: string; prose?: true }[] = plan.preflight.map((s) => ({ label: s.label, what: stepWhatLine(s) }));
  if (plan.checkpoint) lines.push({ label: checkpointCheckLabel(plan.checkpoint.dir), what: CHECKPOINT_CHECK_WHAT, prose: true });
  return lines;
}
