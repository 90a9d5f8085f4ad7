import type { Change, ResolvedStep, Runbook } from './runbook.js';

export type RiskBand = 'green' | 'yellow' | 'orange' | 'red';

export interface PlannedChange {
  /** 1-based position (the plan's №). */
  number: number;
  change: Change;
  band: RiskBand;
  /** sha256 of the change's normalised definition and resolved steps (secrets masked); the journal keeps it to spot edits after apply and to skip a change already applied as it is. */
  checksum: string;
  apply: ResolvedStep[];
  verify: ResolvedStep[];
  /** Explicit rollback steps resolved now; null when the change relies on inverses of its apply steps. */
  rollback: ResolvedStep[] | null;
  /** `apply --rehearse`: checks of the original system, run after the rehearsal rolled the change back (empty: none). */
  rehearse: ResolvedStep[];
  /** Why this change cannot be undone (`rollback: { none: … }`); its rollback is then empty. */
  irreversible?: string;
  /** Above policy.maxRisk: apply needs --accept-risk. */
  needsAcceptRisk: boolean;
  /** At or above policy.confirmFrom: apply asks (TTY) or needs --yes. */
  needsConfirm: boolean;
}

/**
 * The pure result of load → resolve → plan: everything `plan` prints, `--dry-run` shows and
 * `apply` executes. Building it runs nothing.
 */
export interface Plan {
  runbook: Runbook;
  /** Effective variables (file defaults < vars files < --var). Secret values included: redact before printing. */
  vars: Record<string, unknown>;
  /** Values of the runbook's secrets known now (from vars or the environment), for redaction. */
  secretValues: string[];
  preflight: ResolvedStep[];
  /** `exclude`/`include`: pathspecs relative to `dir` (see docs/runbook-format.md, checkpoint). */
  checkpoint?: { dir: string; message: string; exclude: string[]; include: string[] };
  changes: PlannedChange[];
  risk: { sum: number; max: number; percent: number; band: RiskBand };
  verdict: { ok: boolean; text: string };
}

/** How a change is undone: by the inverses of its apply steps, by written steps, by both (`undo: apply` among written steps), or not at all. */
export type UndoKind = 'automatic' | 'written' | 'mixed' | 'cannot be undone';

export function undoKind(c: PlannedChange): UndoKind {
  if (c.irreversible !== undefined) return 'cannot be undone';
  if (!c.rollback) return 'automatic';
  return c.rollback.some((s) => s.type === 'undo') ? 'mixed' : 'written';
}
