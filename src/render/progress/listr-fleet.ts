import type { ListrTask } from 'listr2';
import type { EngineEvent, EventListener, Phase } from '../../model/events.js';
import type { Plan, PlannedChange } from '../../model/plan.js';
import { formatMs } from '../../model/units.js';
import { batchTitle, counterOf, rolloutsOf, type HostRow, type Rollout } from './fleet-rollouts.js';
import { apply, betweenGates, changeTask, Gates, runTasks, type ListrRendererOptions, type Outcome } from './listr.js';
import { ChangeProgress } from './step-progress.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const stepLabel = (e: { phase: Phase; changeId?: string; label: string; attempt: number }) =>
  `${e.changeId}: ${e.phase === 'verify' ? 'verify: ' : ''}${e.label}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
const lastLine = (chunk: string) => chunk.replace(/\s+$/, '').split('\n').pop() ?? '';

/**
 * listr2 progress of a run with changes on hosts, on a terminal. Each rollout has its counter
 * ("batch 2/3 · 1/4 hosts done · 0 failed"), its running batch with one row per host (a counter
 * of the host's finished steps, the step running now, its last output and failed attempts),
 * finished batches collapsed; a host that fails keeps its row, with its own rollback when the
 * rollout goes on without it. Changes on this machine and the run's rollback show the same
 * counter. Rows keep their state, so what happened before listr2 started a row is drawn when it
 * starts. Drawn at most once a frame; driven by engine events only.
 */
export function fleetListrRenderer(plan: Plan, options: ListrRendererOptions): EventListener & { finished: Promise<void> } {
  const gates = new Gates();
  const outputs = new Map<string, (text: string) => void>();
  const { rollouts, rolloutOf, stages } = rolloutsOf(plan);
  const localProgress = new Map<string, ChangeProgress>();
  const undo = { progress: new ChangeProgress(0, '↩', ' undone'), failed: 0, started: false };
  const titles = new Map<Rollout, () => void>();
  let current = -1;

  const rowKey = (r: Rollout, host: string) => `host:${r.index}:${host}`;
  const showRow = (r: Rollout, row: HostRow) => outputs.get(rowKey(r, row.host))?.(row.progress.text());
  const showLocal = (id: string) => outputs.get(`change:${id}`)?.(localProgress.get(id)!.text());
  const showUndo = () => outputs.get('rollback')?.(undo.progress.text());
  const retitle = (r: Rollout) => titles.get(r)?.();
  const rowOf = (changeId: string | undefined, host: string | undefined) => {
    const r = changeId !== undefined ? rolloutOf.get(changeId) : undefined;
    const row = host !== undefined ? r?.rows.get(host) : undefined;
    return r && row ? { r, row } : undefined;
  };
  const endRow = (r: Rollout, row: HostRow, outcome: Outcome) => {
    row.state = row.state === 'running' && outcome.kind === 'done' ? 'done' : 'closed';
    gates.settle(`${rowKey(r, row.host)}:end`, outcome);
  };
  /** A failed host's row ends once the rollout goes on: its rollback is then the run's. */
  const endFailedRows = (r: Rollout) => {
    for (const row of r.rows.values()) if (row.state === 'failed') endRow(r, row, { kind: 'fail', message: row.failure ?? 'failed' });
  };
  /** The rollout is over: what never started was not run; it failed if any host did. */
  const endRollout = (r: Rollout, why: string) => {
    if (r.over) return;
    r.over = true;
    r.watching = undefined;
    endFailedRows(r);
    for (const row of r.rows.values()) {
      if (row.state === 'running') endRow(r, row, { kind: 'fail', message: why });
      else if (row.state === 'waiting') gates.settle(rowKey(r, row.host), { kind: 'skip', note: 'not run' });
    }
    if (r.batch > 0 && r.batch < r.batches.length) r.stopped = r.failed.length ? `: ${r.failed.join(', ')} failed` : `: ${why}`;
    for (let i = r.batch + 1; i <= r.batches.length; i++) gates.settle(`batch:${r.index}:${i}`, { kind: 'skip', note: 'not run' });
    gates.settle(`rollout:${r.index}`, r.batch === 0 ? { kind: 'skip', note: 'not run' } : { kind: 'done' });
    gates.settle(`rollout:${r.index}:end`, r.failed.length || r.stopped !== undefined ? { kind: 'fail', message: counterOf(r) } : { kind: 'done' });
    retitle(r);
  };
  const endRollouts = (why: string) => {
    for (const r of rollouts) endRollout(r, why);
  };

  const hostRow = (r: Rollout, host: string): ListrTask => ({
    title: host,
    rendererOptions: { outputBar: 1 },
    task: (_c, task) => {
      const row = r.rows.get(host)!;
      return betweenGates(
        task,
        gates,
        outputs,
        { start: rowKey(r, host), end: `${rowKey(r, host)}:end`, outputKey: rowKey(r, host) },
        {
          started: () => showRow(r, row),
          done: (outcome) =>
            `${host} — ${plural(row.changes, 'change')} ${row.verifies ? 'verified' : 'applied'} in ${outcome.note} (${plural(row.progress.total, 'step')})`,
        },
      );
    },
  });
  const rolloutTask = (r: Rollout): ListrTask => ({
    title: counterOf(r),
    task: async (_ctx, task) => {
      titles.set(r, () => (task.title = counterOf(r)));
      retitle(r);
      const started = await gates.get(`rollout:${r.index}`);
      if (started.kind !== 'done') return apply(started, task);
      return task.newListr(
        [
          ...r.batches.map(
            (hosts, i): ListrTask => ({
              title: batchTitle(r, i + 1),
              task: async (_c, batchTask) => {
                const begun = await gates.get(`batch:${r.index}:${i + 1}`);
                if (begun.kind !== 'done') return apply(begun, batchTask);
                return batchTask.newListr(
                  hosts.map((host) => hostRow(r, host)),
                  { concurrent: true, exitOnError: false },
                );
              },
            }),
          ),
          // No title: it only fails the rollout (which then keeps its batches on screen) when a host failed.
          {
            task: async () => {
              const outcome = await gates.get(`rollout:${r.index}:end`);
              if (outcome.kind === 'fail') throw new Error(outcome.message);
            },
          },
        ],
        { exitOnError: true },
      );
    },
  });
  const localTask = (c: PlannedChange): ListrTask => {
    const id = c.change.id;
    const steps = c.apply.length + c.verify.length;
    localProgress.set(id, new ChangeProgress(steps));
    return changeTask(c, steps, { gates, outputs, show: () => showLocal(id) });
  };
  const tasks: ListrTask[] = [];
  if (plan.preflight.length) tasks.push({ title: `Preflight (${plan.preflight.length} checks)`, task: async (_ctx, task) => apply(await gates.get('preflight'), task) });
  if (plan.checkpoint) tasks.push({ title: `Checkpoint (git, ${plan.checkpoint.dir})`, task: async (_ctx, task) => apply(await gates.get('checkpoint'), task) });
  for (const stage of stages) tasks.push('batches' in stage ? rolloutTask(stage) : localTask(stage));
  tasks.push({
    title: 'Rollback',
    rendererOptions: { outputBar: 1 },
    task: (_ctx, task) =>
      betweenGates(task, gates, outputs, { start: 'rollback', end: 'rollbackDone', outputKey: 'rollback' }, { started: showUndo, done: () => `Rollback — ${plural(undo.progress.finished, 'change')} undone` }),
  });
  const finished = runTasks(tasks, options.output);

  /** A step of a change: its host's row (or the local change's), and while a rollback runs, the rollback's counter. */
  const onStep = (e: Extract<EngineEvent, { type: 'step.started' | 'step.output' | 'step.finished' }>) => {
    const at = rowOf(e.changeId, e.host);
    const progress = at ? at.row.progress : e.changeId !== undefined && e.host === undefined ? localProgress.get(e.changeId) : undefined;
    const show = () => (at ? showRow(at.r, at.row) : e.changeId !== undefined && showLocal(e.changeId));
    if (e.phase === 'rollback') {
      const where = `${e.host !== undefined ? `${e.host}: ` : ''}${e.changeId}: `;
      const inRow = at?.row.state === 'failed' && at.row.undoing > 0 ? at.row.progress : undefined;
      if (e.type === 'step.started') {
        undo.progress.started(`${where}${e.label}`);
        inRow?.started(`↩ ${e.changeId}: ${e.label}`);
      } else if (e.type === 'step.output') {
        undo.progress.output(lastLine(e.chunk));
        inRow?.output(lastLine(e.chunk));
      } else if (!e.ok) {
        undo.progress.problem(`${where}${e.label}: ${e.failure?.message ?? 'failed'}`);
        inRow?.problem(`↩ ${e.changeId}: ${e.label}: ${e.failure?.message ?? 'failed'}`);
      }
      showUndo();
      if (inRow) show();
      return;
    }
    if (!progress || (e.phase !== 'apply' && e.phase !== 'verify')) return;
    if (e.type === 'step.started') progress.started(stepLabel(e));
    else if (e.type === 'step.output') progress.output(lastLine(e.chunk));
    else if (e.ok) progress.finished++;
    else progress.problem(`${e.phase === 'verify' ? 'verify: ' : ''}${e.label}: attempt ${e.attempt} failed: ${e.failure?.message ?? ''}`);
    show();
  };

  const listener = (e: EngineEvent) => {
    switch (e.type) {
      case 'preflight.finished':
        gates.settle('preflight', e.ok ? { kind: 'done' } : { kind: 'fail', message: e.failures.join('; ') });
        break;
      case 'checkpoint.taken':
        gates.settle('checkpoint', { kind: 'done', note: e.commit.slice(0, 12) });
        break;
      case 'batch.started': {
        if (e.batch === 1) {
          if (current >= 0) endRollout(rollouts[current]!, 'over');
          current++;
          if (rollouts[current]) gates.settle(`rollout:${current}`, { kind: 'done' });
        }
        const r = rollouts[current];
        if (!r) break;
        endFailedRows(r);
        r.batch = e.batch;
        gates.settle(`batch:${r.index}:${e.batch}`, { kind: 'done' });
        retitle(r);
        break;
      }
      case 'change.started': {
        if (e.host === undefined) {
          if (current >= 0) endRollout(rollouts[current]!, 'over');
          gates.settle(`change:${e.changeId}`, { kind: 'done' });
          break;
        }
        const at = rowOf(e.changeId, e.host);
        if (at && at.row.state === 'waiting') {
          at.row.state = 'running';
          at.row.startedAt = performance.now();
          gates.settle(rowKey(at.r, e.host), { kind: 'done' });
        }
        break;
      }
      case 'step.started':
      case 'step.output':
      case 'step.finished':
        onStep(e);
        break;
      case 'change.verified': {
        if (e.host === undefined) {
          gates.settle(`verified:${e.changeId}`, { kind: 'done', note: formatMs(e.durationMs) });
          break;
        }
        const at = rowOf(e.changeId, e.host);
        if (at && at.row.state === 'running' && ++at.row.verified >= at.row.changes) {
          at.r.done++;
          endRow(at.r, at.row, { kind: 'done', note: formatMs(performance.now() - (at.row.startedAt ?? performance.now())) });
          retitle(at.r);
        }
        break;
      }
      case 'change.failed':
        if (e.host === undefined && e.phase !== 'watch') gates.settle(`verified:${e.changeId}`, { kind: 'fail', message: `${e.phase} failed: ${e.failure.message}` });
        break;
      case 'host.failed': {
        const r = (e.changeId !== undefined ? rolloutOf.get(e.changeId) : undefined) ?? rollouts[current];
        const row = r?.rows.get(e.host);
        if (!r || !row) break;
        r.failed.push(e.host);
        // Failed in a pause or the watch window: it was done.
        if (row.state === 'done') r.done--;
        if (row.state === 'waiting') gates.settle(rowKey(r, e.host), { kind: 'done' });
        if (row.state === 'waiting' || row.state === 'running') {
          row.state = 'failed';
          row.failure = e.reason;
          row.progress.started('');
          row.progress.problem(e.reason);
          showRow(r, row);
        }
        retitle(r);
        break;
      }
      case 'rollback.started': {
        undo.progress.total += e.changeIds.length;
        const at = rowOf(e.changeIds[0]?.split('@')[0], e.host);
        // A host that failed within maxFailures is rolled back alone and the rollout goes on; any other rollback is the run's.
        const alone = at !== undefined && !at.r.over && at.r.failed.includes(at.row.host) && at.r.failed.length <= at.r.maxFailures && e.reason !== 'interrupted';
        if (alone && at.row.state === 'failed') {
          at.row.undoing += e.changeIds.length;
          at.row.progress.started(`↩ rolling back ${e.changeIds.map((k) => k.split('@')[0]).join(', ')}`);
          showRow(at.r, at.row);
        } else if (!alone && !undo.started) {
          undo.started = true;
          gates.settleAll('change:', { kind: 'skip', note: 'not applied' });
          endRollouts(e.reason === 'interrupted' ? 'interrupted' : 'stopped');
          gates.settle('rollback', { kind: 'done' });
        }
        showUndo();
        break;
      }
      case 'change.rolledBack': {
        if (e.ok) undo.progress.finished++;
        else {
          undo.failed++;
          undo.progress.problem(`${e.host !== undefined ? `${e.host}: ` : ''}${e.changeId}: rollback FAILED: ${e.failure?.message ?? ''}`);
        }
        showUndo();
        const at = rowOf(e.changeId, e.host);
        if (at && at.row.state === 'failed' && at.row.undoing > 0) {
          if (!e.ok) at.row.undoFailure ??= e.failure?.message ?? 'failed';
          if (--at.row.undoing === 0) {
            const undone = at.row.undoFailure !== undefined ? `rollback FAILED: ${at.row.undoFailure}` : 'rolled back';
            endRow(at.r, at.row, { kind: 'fail', message: `${at.row.failure}; ${undone}` });
            retitle(at.r);
          }
        }
        break;
      }
      case 'watch.started': {
        const r = rollouts[current];
        if (r && !r.over) {
          r.watching = e.durationMs;
          retitle(r);
        }
        break;
      }
      case 'watch.finished': {
        const r = rollouts[current];
        if (r && !r.over) {
          r.watching = undefined;
          retitle(r);
        }
        break;
      }
      case 'run.finished':
        endRollouts(e.outcome === 'interrupted' ? 'interrupted' : 'stopped');
        if (undo.progress.total > 0) {
          gates.settle('rollback', { kind: 'done' });
          gates.settle('rollbackDone', undo.failed ? { kind: 'fail', message: `${plural(undo.failed, 'change')} could not be rolled back` } : { kind: 'done' });
        }
        gates.end({ kind: 'skip', note: 'not run' });
        return finished;
      default:
        break;
    }
    return undefined;
  };
  return Object.assign(listener, { finished });
}
