import type { Change, HostRef, ResolvedStep, Runbook } from './runbook.js';

export type RiskBand = 'green' | 'yellow' | 'orange' | 'red';

/** A change on one host: its steps resolved with that host's `host.name` and `host.vars`. */
export interface PlannedTarget {
  host: string;
  apply: ResolvedStep[];
  verify: ResolvedStep[];
  rollback: ResolvedStep[] | null;
  checksum: string;
}

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
  /** Why this change cannot be undone (`rollback: { none: … }`); its rollback is then empty. */
  irreversible?: string;
  /** Above policy.maxRisk: apply needs --accept-risk. */
  needsAcceptRisk: boolean;
  /** At or above policy.confirmFrom: apply asks (TTY) or needs --yes. */
  needsConfirm: boolean;
  /** A change on hosts: one per host (after --limit); absent for a change on this machine. */
  targets?: PlannedTarget[];
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
  /** Present when a change runs on hosts: every targeted host, the rollout's batches (canary first), the failed hosts tolerated, the pause between batches, the ssh_config. */
  fleet?: { hosts: HostRef[]; batches: string[][]; maxFailures: number; pause: number; sshConfig?: string };
}

/** How a change is undone: by the inverses of its apply steps, by written steps, by both (`undo: apply` among written steps), or not at all. */
export type UndoKind = 'automatic' | 'written' | 'mixed' | 'cannot be undone';

export function undoKind(c: PlannedChange): UndoKind {
  if (c.irreversible !== undefined) return 'cannot be undone';
  if (!c.rollback) return 'automatic';
  return c.rollback.some((s) => s.type === 'undo') ? 'mixed' : 'written';
}
