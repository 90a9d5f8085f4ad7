import type { CheckpointRecord } from './checkpoint.js';
import type { ResolvedStep } from './runbook.js';

/** Where in a run a step executes. */
export type Phase = 'preflight' | 'checkpoint' | 'apply' | 'verify' | 'rollback' | 'watch' | 'rehearse';

export interface StepFailure {
  message: string;
  command?: string;
  exitCode?: number | null;
  outputTail?: string;
  timedOut?: boolean;
}

/** What an `apply --rehearse` found different after rolling a change back, for one file or crontab. */
export interface RehearsalDifference {
  /** The file's absolute path, or the crontab (`crontab`, `crontab of USER`, or a cron.d file's path). */
  target: string;
  kind: 'file' | 'crontab';
  /** One line: what differs (created, deleted, content, mode). */
  summary: string;
  /** The first lines that differ, `-` as before the apply, `+` as after the rollback (never the whole file). */
  lines: string[];
}

/** How a change's rollback rehearsal ended: the undo was exact and its checks passed; it was not; or it could not be rehearsed. */
export type RehearsalResult = 'passed' | 'failed' | 'skipped';

export type RunOutcome = 'applied' | 'rolled-back' | 'stopped' | 'rollback-failed' | 'interrupted' | 'dry-run' | 'preflight-failed';

export interface StepRef {
  phase: Phase;
  /** Absent for preflight/checkpoint steps. */
  changeId?: string;
  /** Index of the step within its list (apply/verify/rollback/preflight). */
  index: number;
  label: string;
  /** The host the step runs on (a change `on:` hosts); absent on this machine. */
  host?: string;
}

/**
 * Everything the executor reports. Renderers (listr2, lines, NDJSON) and the journal are
 * listeners of this one stream. Events marked (journal) are appended and fsynced before the
 * work they announce proceeds.
 */
export type EngineEvent =
  | {
      type: 'run.started';
      runId: string;
      runbook: string;
      file: string;
      changes: { id: string; title: string; risk: number; checksum: string }[];
      host: string;
      pid: number;
      user: string;
      dryRun: boolean;
      /** Names (never values) of the runbook's secrets, so rollback knows what to fill from the environment. */
      secrets: string[];
      /** Selected changes not run because an earlier run applied them with the same definition (state-aware apply). */
      skipped?: { id: string; runId: string; at?: string; host?: string }[];
      /** Changes on hosts: the hosts, the rollout's batches and the ssh_config every ssh was given (a later rollback reaches the hosts the same way). */
      fleet?: { hosts: string[]; batches: string[][]; maxFailures: number; sshConfig?: string };
    } // (journal)
  | { type: 'preflight.finished'; ok: boolean; failures: string[] } // (journal)
  | ({ type: 'checkpoint.started' } & CheckpointRecord) // (journal) before the checkpoint commit is made
  | { type: 'checkpoint.taken'; dir: string; commit: string; createdCommit: boolean } // (journal)
  | { type: 'checkpoint.undone'; dir: string; commit: string | null; restored: boolean; reason?: string; finish?: string } // (journal) after a rollback left nothing of the run applied
  | {
      type: 'change.started';
      changeId: string;
      number: number;
      title: string;
      checksum: string;
      rollback: ResolvedStep[] | null;
      irreversible?: string;
      /** `--reapply`: the change was still applied by that run, with that definition; this one goes on top of it. */
      replaces?: { runId: string; checksum: string; at?: string };
      /** On a host: which one, and in which batch of the rollout (1-based). */
      host?: string;
      batch?: number;
    } // (journal)
  | ({ type: 'step.started'; attempt: number; inverse?: ResolvedStep[] } & StepRef) // (journal for apply/rollback)
  | ({ type: 'step.output'; chunk: string } & StepRef)
  | ({
      type: 'step.finished';
      ok: boolean;
      durationMs: number;
      attempt: number;
      detail?: string;
      data?: Record<string, unknown>;
      failure?: StepFailure;
      /** A failed attempt another one follows (retries): not the step's verdict. */
      retrying?: true;
      /** How many attempts the step can take, when that is fixed. */
      attempts?: number;
    } & StepRef) // (journal)
  /** A process a step started (its group leader): a later rollback stops it first if this run died with it still running. */
  | ({ type: 'step.process'; pid: number; startTime?: string; boot?: string } & StepRef) // (journal)
  | { type: 'change.applied'; changeId: string; durationMs: number; host?: string } // (journal)
  | { type: 'change.verified'; changeId: string; durationMs: number; /** How many verify steps passed; 0: the change has none (absent in older journals). */ verifySteps?: number; host?: string } // (journal)
  | { type: 'change.failed'; changeId: string; phase: Phase; failure: StepFailure; host?: string } // (journal)
  /** The rollout: a batch of hosts starts; a host failed as a whole (unreachable, or one of its changes failed). */
  | { type: 'batch.started'; batch: number; of: number; hosts: string[] } // (journal)
  | { type: 'host.failed'; host: string; reason: string; changeId?: string } // (journal)
  | { type: 'watch.started'; durationMs: number } // (journal)
  /** `apply --rehearse`: the change was applied and verified; it is rolled back now, and the undo proven, before it is applied again. */
  | { type: 'rehearsal.started'; changeId: string; checksum: string; files: string[]; crontabs: string[] } // (journal)
  | {
      type: 'rehearsal.finished';
      changeId: string;
      result: RehearsalResult;
      /** What stayed different after the rollback (failed). */
      differences: RehearsalDifference[];
      /** Files and crontabs the rehearsal put back to their bytes from before the apply, after an inexact undo. */
      restored?: string[];
      /** Why it failed (a rollback step, a difference, a `rehearse` check), or why it was skipped. */
      failure?: StepFailure;
      durationMs: number;
    } // (journal)
  | { type: 'watch.finished'; ok: boolean } // (journal)
  | { type: 'rollback.started'; changeIds: string[]; reason: string; pid: number; host?: string } // (journal)
  | { type: 'change.rollingBack'; changeId: string; steps: number; host?: string } // (journal)
  | { type: 'change.rolledBack'; changeId: string; ok: boolean; failure?: StepFailure; durationMs: number; host?: string } // (journal)
  | { type: 'run.finished'; outcome: RunOutcome; exitCode: number; remaining: string[]; durationMs: number }; // (journal)

/** An event as stored: with its time and sequence number. */
export type JournalEvent = EngineEvent & { seq: number; at: string };

export type EventListener = (event: EngineEvent) => void | Promise<void>;
