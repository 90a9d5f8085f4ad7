import type { SourcePos } from './diagnostic.js';

/** Durations are normalised to milliseconds and sizes to bytes by the loader. */
export type Millis = number;
export type Bytes = number;

export type OnFailure = 'rollback-all' | 'rollback-change' | 'rollback-failed' | 'stop';


export interface Policy {
  maxRisk: number;
  confirmFrom: number;
  onFailure: OnFailure;
  /** A saved plan (`plan --out`) older than this is refused by apply; `--max-age` overrides it. */
  planMaxAge?: Millis;
}

/** Keys every step may carry beside its one type key. Normalised (ms) by the loader. */
export interface StepCommon {
  name?: string;
  timeout?: Millis;
  retries?: number;
  interval?: Millis;
  /** verify: consecutive successes required. */
  passes?: number;
  /** verify: delay before the first try. */
  settle?: Millis;
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * One step as written in the runbook: its type key, the type's own parameters (still holding
 * `{{ }}` templates), and the common keys. `pos` points at the step's map in the YAML.
 */
export interface StepSpec extends StepCommon {
  type: string;
  params: unknown;
  pos: SourcePos;
  /** Positions of the templated strings under the type key, by path (`stdout/matches`), for problems found once they are filled. */
  templatePos?: Record<string, SourcePos>;
  /** `timeout: "{{ var }}"`: filled and parsed when the plan is resolved (then `timeout`). */
  timeoutTemplate?: string;
}

/**
 * A step with every template filled: what will actually run. This is what plans print,
 * what `--dry-run` shows and what the journal records for rollback (secrets replaced by
 * `{{secret:NAME}}` placeholders there, filled again at rollback time).
 */
export interface ResolvedStep extends StepCommon {
  type: string;
  params: unknown;
  /** Human label: `name` when given, otherwise the step type's describe(). */
  label: string;
  pos?: SourcePos;
}

export interface Breakage {
  what: string;
  probability?: string;
  fix?: string;
}

export interface Problem {
  title: string;
  symptom?: string;
  fix?: string;
}

export interface ExpectedResult {
  metric: string;
  before?: string;
  after?: string;
  gain?: string;
}

export interface Change {
  id: string;
  title: string;
  risk: number;
  impact?: string;
  rollbackTime?: string;
  /** Short words for the plan's verification column; defaults to the verify steps' labels. */
  verifiedBy?: string;
  does: string[];
  breaks: Breakage[];
  protections: string[];
  benefits: string[];
  apply: StepSpec[];
  verify: StepSpec[];
  /** Explicit rollback steps; when absent, inverses of the apply steps are used. */
  rollback?: StepSpec[];
  /** `rollback: { none: reason }`: the author says this change cannot be undone, and why. */
  irreversible?: string;
  /** Where it runs: host group names (`on: web`, `on: [web, db]`), or `['local']` (the default): this machine. */
  on: string[];
  pos: SourcePos;
}

/** One target host: `name` is the ssh destination or ~/.ssh/config alias exactly as written (`deploy@web-2`); `vars` are its own variables (`{{ host.vars.X }}`). */
export interface HostRef {
  name: string;
  vars: Record<string, unknown>;
}

/** A rollout figure: a number of hosts, or a percentage of the targeted hosts (`"25%"`). */
export type Count = { count: number } | { percent: number };

/** How changes on hosts roll out: the canary host(s) alone first, then batches of `batch` hosts; more than `maxFailures` failed hosts stops it. */
export interface Rollout {
  canary: Count;
  batch: Count;
  maxFailures: Count;
  pause: Millis;
}

export interface Checkpoint {
  git?: { dir: string; message: string; exclude: string[]; include: string[] };
}

export interface Runbook {
  /** Absolute path of the runbook file. */
  file: string;
  name: string;
  title: string;
  description?: string;
  /** Defaults from the file; CLI vars and vars files override them. */
  vars: Record<string, unknown>;
  /** Names of variables (vars or environment) whose values are never shown or stored. */
  secrets: string[];
  policy: Policy;
  checkpoint?: Checkpoint;
  preflight: StepSpec[];
  changes: Change[];
  /** Host groups (group → hosts), from `hosts:` or `--inventory` (which replaces it); `{}` when none. */
  hosts: Record<string, HostRef[]>;
  /** `rollout:` as written (defaults filled); absent when the runbook has none (then: canary 1, batch 1, maxFailures 0, pause 0). */
  rollout?: Rollout;
  /** Window after the last change during which all verify steps keep running. */
  watch?: { duration: Millis; interval: Millis };
  /** Free-text sections of the report (seed document). */
  state: string[];
  troubleshooting: Problem[];
  expected: ExpectedResult[];
  verdict?: string;
  pos: SourcePos;
}
