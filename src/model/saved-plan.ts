import type { Plan } from './plan.js';

/** The version of the saved plan format (`runbook plan --out`); the header that tells a plan file from a runbook. */
export const SAVED_PLAN_VERSION = 1;

export interface FileDigest {
  /** Absolute path, as resolved when the plan was made. */
  file: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
}

/**
 * A saved plan (docs/runbook-format.md, "Saved plans"): what was reviewed, tied to the files it
 * came from. JSON with `runbookPlan: 1` first; it never holds a secret's value, only the names
 * of the secrets apply will need.
 */
export interface SavedPlan {
  runbookPlan: typeof SAVED_PLAN_VERSION;
  engine: { name: 'runbook'; version: string };
  /** ISO time the plan was made. */
  createdAt: string;
  /** user@host that made it. */
  createdBy: string;
  environment: string;
  runbook: FileDigest;
  varsFiles: FileDigest[];
  /** The `--var key=value` flags given to `plan` (a secret cannot be one). */
  vars: string[];
  /** `--inventory FILE` given to `plan`: apply reads the same groups (the file must be unchanged). */
  inventory?: FileDigest;
  /** `--limit PATTERN` given to `plan`: apply targets the same hosts. */
  limit?: string;
  /** `--ssh-config FILE` given to `plan` (the file must be unchanged). */
  sshConfig?: FileDigest;
  /** Names of the runbook's secrets: apply takes their values from the vars files and the environment, as always. */
  secrets: string[];
  risk: Plan['risk'];
  verdict: Plan['verdict'];
  /** The resolved plan (vars filled, every secret value replaced by `***`), as apply will run it. */
  plan: StoredPlan;
}

/** A Plan as stored: JSON, without the secret values. */
export type StoredPlan = Omit<Plan, 'secretValues'>;
