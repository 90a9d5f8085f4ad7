import type { Phase } from '../model/events.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { Target } from './kit/target.js';

/**
 * Where a string param's templates go: `shell`, a bash command the step runs with `ctx.env`
 * (values are passed in environment variables); `cron`, a shell command run later (values
 * quoted); `sql`, a query (values bound as parameters appended to `params`); `sql-script`,
 * SQL statements (values as quoted literals); `http-url` / `pg-url`, a URL (values
 * percent-encoded after the base).
 */
export type TemplateField = 'shell' | 'cron' | 'sql' | 'sql-script' | 'http-url' | 'pg-url';

export interface StepContext {
  phase: Phase;
  /** Where the step acts (this machine or a host): steps touch the system only through it. */
  target: Target;
  /** Absolute working directory: the step's `cwd` resolved against the runbook's directory. */
  cwd: string;
  /** Directory of the runbook file. */
  runbookDir: string;
  /** Here: process.env merged with the step's `env`. On a host: the step's `env` only (added to the login environment). */
  env: NodeJS.ProcessEnv;
  /** Aborted on timeout or interrupt: the step must stop (kill its process group) and reject. */
  signal: AbortSignal;
  /** Step timeout in ms (already applied through `signal`; given for steps that pass it on, e.g. connect timeouts). */
  timeoutMs: number;
  /** Live output for renderers; the executor keeps a redacted tail. */
  output(chunk: string): void;
  /** Journal lookups a step may need, e.g. the run's recorded git checkpoint. */
  recorded: { checkpointCommit?: string; checkpointDir?: string };
  /** `runbook rollback --force`: an inverse may overwrite what someone changed after the apply. */
  force?: boolean;
}

/**
 * Bytes inside an inverse's params (e.g. a file's prior content). Before journaling, the
 * engine cuts every secret value out of them (`secretsAt`: where, which secret, in which form,
 * with a salted scrypt `fingerprints` of each value) and moves the bytes to the state's
 * snapshot store, the journal keeping their digest (src/model/snapshot.ts); before the inverse
 * runs it reads them back, puts the current values back and lists in `rotated` the secrets
 * whose value is not the one cut out. A step sees only this form.
 */
export interface JournaledBytes {
  base64: string;
  secretsAt?: [offset: number, name: string, form: string][];
  fingerprints?: Record<string, string>;
  rotated?: string[];
}

/** What a successful step reports (shown in verbose output and recorded in the journal). */
export interface StepOutcome {
  detail?: string;
  /** JSON-serialisable facts, e.g. `{ commit: 'abc123' }` for a checkpoint. */
  data?: Record<string, unknown>;
}

/**
 * A step failed. Carries what an operator needs to act: the command, its exit code and the
 * tail of its output. Every step type reports failure by throwing this.
 */
export class StepFailedError extends Error {
  readonly command?: string;
  readonly exitCode?: number | null;
  readonly outputTail?: string;
  readonly timedOut: boolean;

  constructor(message: string, info: { command?: string; exitCode?: number | null; outputTail?: string; timedOut?: boolean } = {}) {
    super(message);
    this.name = 'StepFailedError';
    this.command = info.command;
    this.exitCode = info.exitCode;
    this.outputTail = info.outputTail;
    this.timedOut = info.timedOut ?? false;
  }
}

/** A problem in a step's parameters that would make it fail for certain once it runs. */
export interface ParamProblem {
  /** Where, inside the value under the type key (`[]` is that value itself). */
  path: (string | number)[];
  message: string;
}

/**
 * What a step changes on this machine that `apply --rehearse` can compare byte for byte: a
 * file (absolute path), or a crontab (a user's, via the crontab command, or a cron.d-style file).
 */
export type Touched = { kind: 'file'; path: string } | { kind: 'crontab'; user?: string; file?: string };

/** How `--dry-run` announces a step. */
export type Preview = { verdict: 'will run' | 'will check' | 'cannot predict'; detail: string };

/**
 * One step type: one module in `src/steps/`, registered in `src/steps/registry.ts`.
 * `P` is the shape of its parameters after the loader validated them against `schema` and
 * templates were filled.
 */
export interface StepType<P = unknown> {
  /** The YAML key that selects this type, e.g. `run`, `http`, `file`. */
  type: string;
  /** One-line summary for docs. */
  summary: string;
  /** JSON Schema of the value under the type key. */
  schema: Record<string, unknown>;
  /**
   * String params whose templates land somewhere a value could become code, by dotted path
   * (e.g. `command`; '' for the value itself): how each is filled (src/template/fill.ts).
   * Other strings are filled as plain text.
   */
  templateFields?: Record<string, TemplateField>;
  /**
   * Given the params as executed and as shown to people (values quoted, secrets ***), the
   * params to keep: e.g. `run` keeps the shown command for its messages. Default: as executed.
   */
  withShown?(params: P, shown: P): P;
  /** Programs this type runs (crontab, git, docker): preflight checks they are installed before anything changes. */
  commands?(params: P): string[];
  /** `check` steps only read the system (safe in preflight and dry-run); `action` steps change it. */
  kind: 'check' | 'action' | ((params: P) => 'check' | 'action');
  /**
   * Problems a run would certainly hit (a regular expression that does not compile, a URL that
   * is not one, a cron schedule cron rejects), so they are reported before anything runs.
   * `raw` is the value under the type key as written, after schema validation, templates
   * filled. Pure. The loader calls it at load time and reports the problems at values without
   * templates; templated values are checked again once their templates are filled.
   */
  check?(raw: unknown): ParamProblem[] | Promise<ParamProblem[]>;
  /** Normalise validated params once (durations to ms, sizes to bytes). Pure. */
  normalize?(params: unknown): P;
  /** One line for plans and progress: what this step does, e.g. `GET http://127.0.0.1:9191/health → 200`. */
  describe(params: P): string;
  /** Runs the step; throws StepFailedError on failure. */
  run(params: P, ctx: StepContext): Promise<StepOutcome>;
  /** True when `inverse` can undo these params (lets a change omit `rollback`). */
  invertible?(params: P): boolean;
  /**
   * Reads the state this step is about to change and returns the steps that restore it
   * exactly. Called before `run`; the result is journaled (fsynced) before `run` starts.
   * Inverse steps must be idempotent: rollback may run them after a crash at any point.
   */
  inverse?(params: P, ctx: StepContext): Promise<ResolvedStep[]>;
  /**
   * For an inverse step (as journaled): why running it now would overwrite what someone else
   * changed since the apply, or undefined. Reads only; `status` shows it.
   */
  drift?(params: P, target: Target): Promise<string | undefined>;
  /**
   * What running these params changes (files, crontabs), with paths resolved as `run` resolves
   * them. Pure. `apply --rehearse` fingerprints it before the change and compares after its rollback.
   */
  touches?(params: P, ctx: Pick<StepContext, 'cwd' | 'target'>): Touched[];
  /** For `--dry-run`: what would happen, without changing anything. */
  preview?(params: P, ctx: StepContext): Promise<Preview>;
  /** Default timeout in ms for this type (the executor's default otherwise). */
  defaultTimeoutMs?: number;
}
