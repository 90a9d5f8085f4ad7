import type { ListrTask } from 'listr2';
import { changeKey } from '../../history/applied-state.js';
import type { EngineEvent, EventListener } from '../../model/events.js';
import type { Plan } from '../../model/plan.js';
import { formatMs } from '../../model/units.js';
import { selectChanges } from '../../plan/select.js';
import { apply, betweenGates, Gates, runTasks, type ListrRendererOptions } from './listr.js';

/** What a host's row shows: which of its changes runs, and the step running now. */
interface HostRow {
  changes: number;
  done: number;
  now: string;
}

/**
 * listr2 progress of a rollout on a terminal: the rollout's counter ("batch 2/5 · 6/20 hosts
 * done · 0 failed"), the running batch with one row per host (its change and step), finished
 * batches collapsed; changes on this machine and the rollback as in the single-machine view.
 * Drawn at most once a frame; driven by engine events only.
 */
export function fleetListrRenderer(plan: Plan, options: ListrRendererOptions): EventListener & { finished: Promise<void> } {
  const gates = new Gates();
  const outputs = new Map<string, (text: string) => void>();
  const rows = new Map<string, HostRow>();
  const selected = selectChanges(plan);
  const involved = new Set(selected.flatMap((c) => (c.targets ?? []).map((t) => t.host)));
  const batches = (plan.fleet?.batches ?? []).map((b) => b.filter((h) => involved.has(h))).filter((b) => b.length);
  for (const host of involved) rows.set(host, { changes: selected.filter((c) => c.targets?.some((t) => t.host === host)).length, done: 0, now: '' });
  const count = { done: 0, failed: 0, batch: 0 };
  let setRolloutTitle: (() => void) | undefined;
  const rolloutTitle = () => `Rollout: batch ${count.batch}/${batches.length} · ${count.done}/${involved.size} hosts done · ${count.failed} failed`;
  const showRow = (host: string) => {
    const r = rows.get(host);
    if (r) outputs.get(`host:${host}`)?.(`change ${Math.min(r.done + 1, r.changes)}/${r.changes}${r.now ? `  ▸ ${r.now}` : ''}`);
  };

  const tasks: ListrTask[] = [];
  if (plan.preflight.length) tasks.push({ title: `Preflight (${plan.preflight.length} checks)`, task: async (_ctx, task) => apply(await gates.get('preflight'), task) });
  if (plan.checkpoint) tasks.push({ title: `Checkpoint (git, ${plan.checkpoint.dir})`, task: async (_ctx, task) => apply(await gates.get('checkpoint'), task) });
  let rolloutAdded = false;
  for (const c of selected) {
    if (c.targets) {
      if (rolloutAdded) continue;
      rolloutAdded = true;
      tasks.push({
        title: rolloutTitle(),
        task: (_ctx, task) => {
          setRolloutTitle = () => (task.title = rolloutTitle());
          return task.newListr(
            batches.map((hosts, i) => ({
              title: `batch ${i + 1}/${batches.length}${i === 0 && plan.fleet!.batches[0]!.length === hosts.length ? ' (canary)' : ''}: ${hosts.join(', ')}`,
              task: (_c, batchTask) =>
                batchTask.newListr(
                  hosts.map((host) => ({
                    title: host,
                    rendererOptions: { outputBar: 1 },
                    task: (_h, hostTask) =>
                      betweenGates(
                        hostTask,
                        gates,
                        outputs,
                        { start: `host:${host}`, end: `hostDone:${host}`, outputKey: `host:${host}` },
                        { started: () => showRow(host), done: (outcome) => `${host} — ${rows.get(host)!.changes} change(s) verified in ${outcome.note}` },
                      ),
                  })),
                  { concurrent: true, exitOnError: false },
                ),
            })),
            { exitOnError: true },
          );
        },
      });
      continue;
    }
    tasks.push({
      title: `${c.number}. ${c.change.title} [risk ${c.change.risk}/10]`,
      task: async (_ctx, task) => {
        const started = await gates.get(`change:${c.change.id}`);
        if (started.kind !== 'done') return apply(started, task);
        const outcome = await gates.get(`verified:${c.change.id}`);
        if (outcome.kind === 'done') task.title = `${task.title} — verified in ${outcome.note}`;
        else apply(outcome, task);
      },
    });
  }
  tasks.push({
    title: 'Rollback',
    rendererOptions: { outputBar: 1 },
    task: (_ctx, task) => betweenGates(task, gates, outputs, { start: 'rollback', end: 'rollbackDone', outputKey: 'rollback' }),
  });

  const finished = runTasks(tasks, options.output);
  const hostStarted = new Map<string, number>();
  let undone = 0;
  let undoFailed = 0;

  const listener = (e: EngineEvent) => {
    switch (e.type) {
      case 'preflight.finished':
        gates.settle('preflight', e.ok ? { kind: 'done' } : { kind: 'fail', message: e.failures.join('; ') });
        break;
      case 'checkpoint.taken':
        gates.settle('checkpoint', { kind: 'done', note: e.commit.slice(0, 12) });
        break;
      case 'batch.started':
        count.batch = e.batch;
        setRolloutTitle?.();
        break;
      case 'change.started':
        if (e.host === undefined) gates.settle(`change:${e.changeId}`, { kind: 'done' });
        else if (!hostStarted.has(e.host)) {
          hostStarted.set(e.host, performance.now());
          gates.settle(`host:${e.host}`, { kind: 'done' });
        }
        break;
      case 'step.started':
        if (e.host !== undefined && (e.phase === 'apply' || e.phase === 'verify')) {
          const r = rows.get(e.host);
          if (r) r.now = `${e.changeId}: ${e.phase === 'verify' ? 'verify: ' : ''}${e.label}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
          showRow(e.host);
        }
        break;
      case 'change.verified':
        if (e.host === undefined) gates.settle(`verified:${e.changeId}`, { kind: 'done', note: formatMs(e.durationMs) });
        else {
          const r = rows.get(e.host);
          if (r && ++r.done >= r.changes) {
            count.done++;
            setRolloutTitle?.();
            gates.settle(`hostDone:${e.host}`, { kind: 'done', note: formatMs(performance.now() - (hostStarted.get(e.host) ?? performance.now())) });
          } else showRow(e.host);
        }
        break;
      case 'change.failed':
        if (e.host === undefined) gates.settle(`verified:${e.changeId}`, { kind: 'fail', message: `${e.phase} failed: ${e.failure.message}` });
        break;
      case 'host.failed':
        count.failed++;
        setRolloutTitle?.();
        gates.settle(`host:${e.host}`, { kind: 'done' });
        gates.settle(`hostDone:${e.host}`, { kind: 'fail', message: e.reason });
        break;
      case 'rollback.started':
        gates.settleAll('change:', { kind: 'skip', note: 'not applied' });
        gates.settle('rollback', { kind: 'done' });
        outputs.get('rollback')?.(`↩ ${e.changeIds.join(', ')}`);
        break;
      case 'step.finished':
        if (e.phase === 'rollback') outputs.get('rollback')?.(`${e.ok ? '✔' : '✖'} ${e.host !== undefined ? `${e.host}: ` : ''}${e.label}`);
        break;
      case 'change.rolledBack':
        if (e.ok) undone++;
        else undoFailed++;
        outputs.get('rollback')?.(`${e.ok ? '↩' : '✖'} ${changeKey({ id: e.changeId, ...(e.host !== undefined ? { host: e.host } : {}) })} ${e.ok ? 'rolled back' : `FAILED: ${e.failure?.message ?? ''}`} (${undone} undone${undoFailed ? `, ${undoFailed} failed` : ''})`);
        break;
      case 'run.finished':
        gates.settle('rollbackDone', undoFailed ? { kind: 'fail', message: `${undoFailed} change(s) could not be rolled back` } : { kind: 'done', note: `${undone} undone` });
        gates.end({ kind: 'skip', note: 'not run' });
        return finished;
      default:
        break;
    }
    return undefined;
  };
  return Object.assign(listener, { finished });
}
