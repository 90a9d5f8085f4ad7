import type { Plan, PlannedChange, RiskBand } from '../../model/plan.js';

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
