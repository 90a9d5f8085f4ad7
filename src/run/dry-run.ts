import { dirname } from 'node:path';
import type { Phase } from '../model/events.js';
import type { Plan, PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';
import { stepContext, type StepEnvironment } from './step-runner.js';
import { localTarget } from '../steps/kit/local-target.js';

export interface PreviewLine {
  change?: string;
  phase: Phase;
  verdict: 'will run' | 'will check' | 'cannot predict';
  label: string;
  detail: string;
}

async function previewStep(step: ResolvedStep, phase: Phase, base: StepEnvironment, change?: string): Promise<PreviewLine> {
  const def = stepType(step.type)!;
  const kind = typeof def.kind === 'function' ? def.kind(step.params as never) : def.kind;
  const fallback: PreviewLine = { change, phase, verdict: phase === 'verify' || kind === 'check' ? 'will check' : 'will run', label: step.label, detail: def.describe(step.params as never) };
  if (!def.preview || phase !== 'apply') return fallback;
  try {
    const p = await def.preview(step.params as never, stepContext(step, phase, base, new AbortController().signal));
    return { ...fallback, verdict: p.verdict, detail: p.detail };
  } catch (error) {
    return { ...fallback, verdict: 'cannot predict', detail: (error as Error).message };
  }
}

/** `apply --dry-run`: what each step would do, read from the live system, changing nothing. */
export async function previewChanges(plan: Plan, changes: PlannedChange[]): Promise<PreviewLine[]> {
  const base: StepEnvironment = { runbookDir: dirname(plan.runbook.file), target: localTarget(dirname(plan.runbook.file)), workdir: dirname(plan.runbook.file), env: process.env, recorded: {}, output: () => {} };
  const lines: PreviewLine[] = [];
  for (const c of changes) {
    for (const s of c.apply) lines.push(await previewStep(s, 'apply', base, c.change.id));
    for (const s of c.verify) lines.push(await previewStep(s, 'verify', base, c.change.id));
  }
  return lines;
}
