import type { Change, HostRef, Millis, ResolvedStep, Runbook } from './runbook.js';

export type RiskBand = 'green' | 'yellow' | 'orange' | 'red';

/** A change on one host: its steps resolved with that host's `host.name` and `host.vars`. */
export interface PlannedTarget {
  /** The host's name (ssh destination or alias, as written). */
  host: string;
  apply: ResolvedStep[];
  verify: ResolvedStep[];
  rollback: ResolvedStep[] | null;
  /** As PlannedChange.checksum, for this host's resolved steps. */
  checksum: string;
}

/** The hosts a run targets and the order it reaches them in. */
export interface Fleet {
  /** Every targeted host (after --limit), in order of first appearance. */
  hosts: HostRef[];
  /** Host names by batch, in order: the canary batch first (when canary > 0), then chunks of `batch`. */
  batches: string[][];
  /** How many hosts may fail before the rollout stops (absolute). */
  maxFailures: number;
  /** Pause between batches. */
  pause: Millis;
  /** `--ssh-config FILE`, absolute: every ssh gets `-F FILE`. */
  sshConfig?: string;
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
  /**
   * A change on hosts: one target per host (after --limit), in the order of `fleet.hosts`; empty when --limit
   * leaves none. Absent for a local change. The top-level apply/verify/rollback/checksum are then
   * those of the first target (with no target: resolved with `{{ host.… }}` shown as written).
   */
  targets?: PlannedTarget[];
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
  /** Present when any change runs on hosts. */
  fleet?: Fleet;
}

/** How a change is undone: by the inverses of its apply steps, by written steps, by both (`undo: apply` among written steps), or not at all. */
export type UndoKind = 'automatic' | 'written' | 'mixed' | 'cannot be undone';

export function undoKind(c: Pick<PlannedChange, 'irreversible' | 'rollback'>): UndoKind {
  if (c.irreversible !== undefined) return 'cannot be undone';
  if (!c.rollback) return 'automatic';
  return c.rollback.some((s) => s.type === 'undo') ? 'mixed' : 'written';
}
