/** Options shared by the commands, as commander hands them over (already parsed). */
export interface CommonOptions {
  var: string[];
  varsFile: string[];
  stateDir?: string;
  /** `--state postgres://…` or RUNBOOK_STATE: the state backend URL. */
  state?: string;
  /** `--environment` or RUNBOOK_ENVIRONMENT (default `default`): its own lock, runs and history. */
  environment?: string;
  json: boolean;
  color: boolean;
  verbose: boolean;
  /** `--inventory FILE`, `--limit PATTERN`, `--ssh-config FILE`: the hosts of changes that run on hosts (validate, plan, apply, rollback). */
  inventory?: string;
  limit?: string;
  sshConfig?: string;
}

export interface PlanOptions extends CommonOptions {
  format: 'table' | 'markdown' | 'json';
  check: boolean;
  /** Exit 1 when the plan is outside policy (for CI gates). */
  strict: boolean;
  /** Also save the plan to this file (`apply` runs it, `show` prints it). */
  out?: string;
}

export interface ShowOptions {
  format: 'table' | 'markdown' | 'json';
  color: boolean;
}

export interface ApplyOptions extends CommonOptions {
  yes: boolean;
  dryRun: boolean;
  acceptRisk: boolean;
  only?: string;
  from?: string;
  /** Refuse a saved plan older than this (a duration). */
  maxAge?: string;
  /** Write a JUnit XML report of the run here. */
  junit?: string;
  /** `--reapply ID` (repeatable): apply these changes again although an earlier run applied them. */
  reapply: string[];
  /** `--rehearse`: roll each change back after it is verified, prove the undo exact, then apply it again. */
  rehearse?: boolean;
}

export interface RollbackOptions extends CommonOptions {
  run?: string;
  to?: string;
  checkpoint: boolean;
  force: boolean;
  yes: boolean;
  /** Write a JUnit XML report of the rollback here. */
  junit?: string;
}

export interface HistoryOptions extends CommonOptions {
  /** `--prune N`: keep the newest N runs (and those still needed), remove the others and the snapshots no run needs. */
  prune?: string;
}

export interface ReportOptions extends CommonOptions {
  run?: string;
  html: string;
}

export interface UnlockOptions extends CommonOptions {
  force: boolean;
}

export interface MigrateOptions extends CommonOptions {
  /** A state dir (`.runbook`) or a fallback dir (`.runbook/fallback`). */
  from?: string;
  /** The PostgreSQL URL (default: --state / RUNBOOK_STATE). */
  to?: string;
}
