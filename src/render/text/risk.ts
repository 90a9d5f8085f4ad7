import { undoKind, type Plan, type PlannedChange, type RiskBand } from '../../model/plan.js';

const GLYPH: Record<RiskBand, string> = { green: '🟢', yellow: '🟡', orange: '🟠', red: '🔴' };

export function riskText(risk: number, band: RiskBand): string {
  return `${GLYPH[band]} ${risk}/10 ${band}`;
}

export function totalRiskText(plan: Plan): string {
  return `${plan.risk.sum}/${plan.risk.max} = ${plan.risk.percent}%`;
}

export function verifiedBy(c: PlannedChange): string {
  if (c.change.verifiedBy) return c.change.verifiedBy;
  return c.verify.length ? c.verify.map((s) => s.label).join('; ') : '—';
}

export function bandGlyph(band: RiskBand): string {
  return GLYPH[band];
}

/** The plan's Rollback column: how the change is undone (automatic, written, mixed, cannot be undone), then how long it takes. */
export function rollbackCell(c: PlannedChange): string {
  return `${undoKind(c)}${c.change.rollbackTime ? `, ${c.change.rollbackTime}` : ''}`;
}
