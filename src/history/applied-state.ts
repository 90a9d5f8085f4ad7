import type { CheckpointRecord } from '../model/checkpoint.js';
import type { JournalEvent, RunOutcome, StepFailure } from '../model/events.js';
import type { ResolvedStep } from '../model/runbook.js';

export type ChangeStatus = 'applying' | 'applied' | 'verified' | 'failed' | 'rolling-back' | 'rolled-back' | 'rollback-failed';

export interface ChangeState {
  id: string;
  /** The host it was applied on (a change `on:` hosts), and its rollout batch; absent: this machine. */
  host?: string;
  batch?: number;
  number: number;
  title: string;
  checksum: string;
  status: ChangeStatus;
  /** Explicit rollback steps as resolved at apply time, or null (use inverses). */
  rollback: ResolvedStep[] | null;
  /** `rollback: { none: reason }`: the change cannot be undone; rollback leaves it applied. */
  irreversible?: string;
  /** Inverses of the apply steps that started, in apply order. */
  inverses: ResolvedStep[][];
  /** Files the change's steps touched (from file-step inverses), for git guards. */
  paths: string[];
  failure?: StepFailure;
  /** Set when its apply finished and it has no verify steps: applied, but nothing checked it. */
  noVerifySteps?: boolean;
  /** When its apply (and verify) finished. */
  appliedAt?: string;
  /** `--reapply`: the earlier run whose application of this change it went on top of. */
  replaces?: { runId: string; checksum: string; at?: string };
}

/** A `runbook rollback` run later on an applied run. */
export interface LaterRollback {
  at: string;
  changeIds: string[];
  /** The changes it rolled back. */
  undone: string[];
  /** How it ended; undefined if it did not finish. */
  outcome?: RunOutcome;
}

export interface RunState {
  runId: string;
  startedAt?: string;
  runbook?: string;
  file?: string;
  pid?: number;
  host?: string;
  changes: ChangeState[];
  checkpoint?: { dir: string; commit: string };
  /** A checkpoint that made a commit: what undoing it needs, the commit once known, and how the undo went. */
  checkpointCommit?: CheckpointRecord & { commit?: string; undone?: { restored: boolean; reason?: string; finish?: string } };
  /** Secret names recorded at apply time. */
  secrets: string[];
  finished: boolean;
  /** How the run last ended: the apply, or a later `runbook rollback` of it. */
  outcome?: RunOutcome;
  /** How the apply itself ended; undefined when it never finished (crash, kill -9). */
  applyOutcome?: RunOutcome;
  laterRollbacks: LaterRollback[];
  /** Processes steps started that had not finished when the journal ends: a dead run's orphans, stopped before its rollback. */
  openProcesses: { pid: number; startTime?: string; boot?: string; host?: string; label: string }[];
  /** Changes on hosts: how the apply reached them. */
  fleet?: { hosts: string[]; batches: string[][]; maxFailures: number; sshConfig?: string };
}

/** A change's identity in a run: its id, and the host when it ran on one (`pool@web-1`). */
export function changeKey(c: { id: string; host?: string }): string {
  return c.host === undefined ? c.id : `${c.id}@${c.host}`;
}

const keyOf = (changeId: string, host: string | undefined) => (host === undefined ? changeId : `${changeId}@${host}`);

/** A change's status as shown to operators. */
export function statusText(c: ChangeState): string {
  return c.status === 'applied' && c.noVerifySteps ? 'applied (no verify steps)' : c.status;
}

/** Changes whose effects may be on the system: started and not (successfully) rolled back. */
export function remaining(state: RunState): ChangeState[] {
  return state.changes.filter((c) => c.status !== 'rolled-back');
}

/** Applied and checked as far as it goes: verified, or applied with no verify steps. Such a change is on the system as its run left it. */
export function isSettledApplied(c: ChangeState): boolean {
  return c.status === 'verified' || (c.status === 'applied' && c.noVerifySteps === true);
}

/**
 * The steps that undo a change, in the order to run them: its written rollback steps, with an
 * `undo: apply` among them replaced by the inverses of its apply steps (those that started), in
 * reverse order; or, without a written rollback, those inverses alone.
 */
export function undoSteps(change: ChangeState): ResolvedStep[] {
  const inverses = () => [...change.inverses].reverse().flat();
  if (change.rollback) return change.rollback.flatMap((step) => (step.type === 'undo' ? inverses() : [step]));
  return inverses();
}

/** Folds a run's journal into what is applied now. Pure. */
export function foldRun(runId: string, events: JournalEvent[]): RunState {
  const state: RunState = { runId, changes: [], secrets: [], finished: false, laterRollbacks: [], openProcesses: [] };
  const stepKey = (e: { phase: string; changeId?: string; index: number; host?: string }) => `${e.phase}\0${e.changeId ?? ''}\0${e.index}\0${e.host ?? ''}`;
  const open = new Map<string, RunState['openProcesses']>();
  const byId = new Map<string, ChangeState>();
  // A rollback that starts after the apply finished, or in another process (after a crash), is a later `runbook rollback`.
  let later: LaterRollback | undefined;
  let laterPid: number | undefined;
  for (const e of events) {
    switch (e.type) {
      case 'run.started':
        Object.assign(state, { startedAt: e.at, runbook: e.runbook, file: e.file, pid: e.pid, host: e.host, secrets: e.secrets ?? [], ...(e.fleet ? { fleet: e.fleet } : {}) });
        break;
      case 'checkpoint.started': {
        const { type: _type, seq: _seq, at: _at, ...record } = e;
        state.checkpointCommit = record;
        break;
      }
      case 'checkpoint.taken':
        state.checkpoint = { dir: e.dir, commit: e.commit };
        if (state.checkpointCommit && e.createdCommit) state.checkpointCommit.commit = e.commit;
        break;
      case 'checkpoint.undone':
        if (state.checkpointCommit) state.checkpointCommit.undone = { restored: e.restored, reason: e.reason, finish: e.finish };
        break;
      case 'change.started': {
        const c: ChangeState = { id: e.changeId, ...(e.host !== undefined ? { host: e.host, batch: e.batch } : {}), number: e.number, title: e.title, checksum: e.checksum, status: 'applying', rollback: e.rollback, inverses: [], paths: [], ...(e.irreversible !== undefined ? { irreversible: e.irreversible } : {}), ...(e.replaces ? { replaces: e.replaces } : {}) };
        byId.set(keyOf(e.changeId, e.host), c);
        state.changes.push(c);
        break;
      }
      case 'step.started': {
        const c = e.changeId ? byId.get(keyOf(e.changeId, e.host)) : undefined;
        if (c && e.phase === 'apply' && e.inverse) {
          c.inverses.push(e.inverse);
          for (const s of e.inverse) {
            const path = (s.params as { path?: unknown } | null)?.path;
            if (s.type === 'file' && typeof path === 'string' && !c.paths.includes(path)) c.paths.push(path);
          }
        }
        break;
      }
      case 'step.process': {
        const list = open.get(stepKey(e)) ?? [];
        list.push({ pid: e.pid, startTime: e.startTime, boot: e.boot, label: e.label, ...(e.host !== undefined ? { host: e.host } : {}) });
        open.set(stepKey(e), list);
        break;
      }
      case 'step.finished':
        open.delete(stepKey(e));
        break;
      case 'change.applied':
        setStatus(byId, keyOf(e.changeId, e.host), 'applied');
        break;
      case 'change.verified': {
        const c = byId.get(keyOf(e.changeId, e.host));
        if (c && e.verifySteps === 0) Object.assign(c, { status: 'applied', noVerifySteps: true, appliedAt: e.at });
        else if (c) Object.assign(c, { status: 'verified', appliedAt: e.at });
        break;
      }
      case 'rollback.started':
        if (later && e.pid === laterPid) {
          // Hosts of one batch roll back in parallel, each announcing itself: still one later rollback.
          later.changeIds.push(...e.changeIds);
          break;
        }
        if (state.finished || (state.pid !== undefined && e.pid !== state.pid)) {
          laterPid = e.pid;
          later = { at: e.at, changeIds: e.changeIds, undone: [] };
          state.laterRollbacks.push(later);
        }
        break;
      case 'change.failed': {
        const c = byId.get(keyOf(e.changeId, e.host));
        if (c) Object.assign(c, { status: 'failed', failure: e.failure });
        break;
      }
      case 'change.rollingBack':
        setStatus(byId, keyOf(e.changeId, e.host), 'rolling-back');
        break;
      case 'change.rolledBack': {
        const c = byId.get(keyOf(e.changeId, e.host));
        if (c) Object.assign(c, { status: e.ok ? 'rolled-back' : 'rollback-failed', failure: e.ok ? c.failure : e.failure });
        if (e.ok) later?.undone.push(keyOf(e.changeId, e.host));
        break;
      }
      case 'run.finished':
        if (later) later.outcome = e.outcome;
        else if (!state.finished) state.applyOutcome = e.outcome;
        later = undefined;
        state.finished = true;
        state.outcome = e.outcome;
        break;
      default:
        break;
    }
  }
  state.openProcesses = [...open.values()].flat();
  return state;
}

function setStatus(byId: Map<string, ChangeState>, id: string, status: ChangeStatus): void {
  const c = byId.get(id);
  if (c) c.status = status;
}
