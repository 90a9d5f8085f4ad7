import { Listr, type ListrTask } from 'listr2';
import type { EngineEvent, EventListener } from '../../model/events.js';
import type { Plan } from '../../model/plan.js';
import type { ResolvedStep } from '../../model/runbook.js';
import { formatMs } from '../../model/units.js';
import { selectChanges } from '../../plan/select.js';

type Outcome = { kind: 'done'; note?: string } | { kind: 'skip'; note: string } | { kind: 'fail'; message: string };

/** A promise settled by events; `end` settles every gate still waiting when the run is over. */
class Gates {
  private readonly waiting = new Map<string, { promise: Promise<Outcome>; resolve: (o: Outcome) => void }>();
  private ended: Outcome | undefined;
  private readonly byPrefix = new Map<string, Outcome>();
  get(key: string): Promise<Outcome> {
    if (!this.waiting.has(key)) {
      const settled = this.ended ?? [...this.byPrefix].find(([prefix]) => key.startsWith(prefix))?.[1];
      if (settled) return Promise.resolve(settled);
    }
    return this.entry(key).promise;
  }
  /** The run is over: every gate still open, and any asked for later, settles as `outcome`. */
  end(outcome: Outcome): void {
    this.ended = outcome;
    for (const e of this.waiting.values()) e.resolve(outcome);
  }
  settle(key: string, outcome: Outcome): void {
    this.entry(key).resolve(outcome);
  }
  /** Settles every gate with this prefix, also those asked for later. */
  settleAll(prefix: string, outcome: Outcome): void {
    if (!this.byPrefix.has(prefix)) this.byPrefix.set(prefix, outcome);
    for (const [key, e] of this.waiting) if (key.startsWith(prefix)) e.resolve(outcome);
  }
  private entry(key: string) {
    let e = this.waiting.get(key);
    if (!e) {
      let resolve!: (o: Outcome) => void;
      const promise = new Promise<Outcome>((r) => (resolve = r));
      e = { promise, resolve };
      this.waiting.set(key, e);
    }
    return e;
  }
}

function apply(outcome: Outcome, task: { skip(m?: string): void; title: string }): void {
  if (outcome.kind === 'skip') task.skip(`${task.title} (${outcome.note})`);
  else if (outcome.kind === 'fail') throw new Error(`${task.title} — ${outcome.message}`);
  else if (outcome.note) task.title = `${task.title} (${outcome.note})`;
}

/**
 * listr2 progress for a terminal: one task per change with its steps as subtasks; finished
 * changes collapse to one line, so redraw cost stays flat however long the runbook is.
 * Driven by engine events: the executor never knows it exists.
 */
export function listrRenderer(plan: Plan, _total: number, verbose: boolean): EventListener & { finished: Promise<void> } {
  const gates = new Gates();
  const outputs = new Map<string, (text: string) => void>();
  const stepKey = (phase: string, changeId: string | undefined, index: number) => `step:${phase}:${changeId ?? ''}:${index}`;
  const stepTasks = (steps: ResolvedStep[], phase: string, changeId: string): ListrTask[] =>
    steps.map((s, index) => ({
      title: `${phase === 'verify' ? 'verify: ' : ''}${s.label}`,
      task: async (_ctx, task) => {
        const key = stepKey(phase, changeId, index);
        outputs.set(key, (text) => (task.output = text));
        const outcome = await gates.get(key);
        outputs.delete(key);
        apply(outcome, task);
      },
    }));

  const tasks: ListrTask[] = [];
  if (plan.preflight.length) {
    tasks.push({
      title: `Preflight (${plan.preflight.length} checks)`,
      task: async (_ctx, task) => {
        outputs.set('preflight', (text) => (task.output = text));
        const outcome = await gates.get('preflight');
        outputs.delete('preflight');
        apply(outcome, task);
      },
    });
  }
  if (plan.checkpoint) tasks.push({ title: `Checkpoint (git, ${plan.checkpoint.dir})`, task: async (_ctx, task) => apply(await gates.get('checkpoint'), task) });
  for (const c of selectChanges(plan)) {
    const id = c.change.id;
    tasks.push({
      title: `${c.number}. ${c.change.title} [risk ${c.change.risk}/10]`,
      task: async (_ctx, task) => {
        const started = await gates.get(`change:${id}`);
        if (started.kind !== 'done') return apply(started, task);
        const title = task.title;
        const done = c.verify.length ? 'verified' : 'applied (no verify steps)';
        void gates.get(`verified:${id}`).then((o) => {
          if (o.kind === 'done') task.title = `${title} — ${done} in ${o.note}`;
        });
        return task.newListr([...stepTasks(c.apply, 'apply', id), ...stepTasks(c.verify, 'verify', id), { title: done, task: async (_c, t) => apply(await gates.get(`verified:${id}`), t) }], {
          exitOnError: true,
          rendererOptions: { collapseSubtasks: true },
        });
      },
    });
  }
  if (plan.runbook.watch) tasks.push({ title: `Watch window (${formatMs(plan.runbook.watch.duration)})`, task: async (_ctx, task) => apply(await gates.get('watch'), task) });
  tasks.push({
    title: 'Rollback',
    task: async (_ctx, task) => {
      const started = await gates.get('rollback');
      if (started.kind !== 'done') return apply(started, task);
      const ids = started.note?.split(',') ?? [];
      task.title = `Rollback of ${ids.join(', ')}`;
      return task.newListr(
        ids.map((cid) => ({
          title: `undo ${cid}`,
          task: async (_c, t) => {
            outputs.set(`rollback:${cid}`, (text) => (t.output = text));
            const outcome = await gates.get(`rolledBack:${cid}`);
            outputs.delete(`rollback:${cid}`);
            apply(outcome, t);
          },
        })),
        { exitOnError: true },
      );
    },
  });

  // listr2's own SIGINT handler would exit(127) on the spot: no rollback, the step's process
  // group orphaned, the lock left behind. The CLI handles interrupts; listr2 only draws.
  const listr = new Listr(tasks, { exitOnError: false, registerSignalListeners: false, rendererOptions: { collapseSubtasks: true, showErrorMessage: true }, collectErrors: false });
  const finished = listr.run().then(
    () => undefined,
    () => undefined,
  );

  let lastOutput = '';
  const listener = (e: EngineEvent) => {
    switch (e.type) {
      case 'step.output': {
        lastOutput = e.chunk.replace(/\s+$/, '').split('\n').pop() ?? '';
        const key = e.phase === 'preflight' ? 'preflight' : e.phase === 'rollback' ? `rollback:${e.changeId}` : stepKey(e.phase, e.changeId, e.index);
        if (verbose || e.phase !== 'preflight') outputs.get(key)?.(lastOutput);
        break;
      }
      case 'step.finished':
        if (e.phase === 'preflight') outputs.get('preflight')?.(`${e.ok ? '✔' : '✖'} ${e.label}${e.ok ? '' : `: ${e.failure?.message}`}`);
        else if (e.phase === 'rollback') outputs.get(`rollback:${e.changeId}`)?.(`${e.ok ? '✔' : '✖'} ${e.label}`);
        else if (e.ok) gates.settle(stepKey(e.phase, e.changeId, e.index), { kind: 'done', note: formatMs(e.durationMs) });
        else outputs.get(stepKey(e.phase, e.changeId, e.index))?.(`attempt ${e.attempt} failed: ${e.failure?.message ?? ''}`);
        break;
      case 'preflight.finished':
        gates.settle('preflight', e.ok ? { kind: 'done' } : { kind: 'fail', message: e.failures.join('; ') });
        break;
      case 'checkpoint.taken':
        gates.settle('checkpoint', { kind: 'done', note: e.commit.slice(0, 12) });
        break;
      case 'change.started':
        gates.settle(`change:${e.changeId}`, { kind: 'done' });
        break;
      case 'change.verified':
        gates.settle(`verified:${e.changeId}`, { kind: 'done', note: formatMs(e.durationMs) });
        break;
      case 'change.failed':
        if (e.phase === 'watch') gates.settle('watch', { kind: 'fail', message: `${e.changeId}: ${e.failure.message}` });
        gates.settleAll(`step:${e.phase}:${e.changeId}:`, { kind: 'fail', message: e.failure.message });
        gates.settleAll(`step:`, { kind: 'skip', note: 'not run' });
        gates.settle(`verified:${e.changeId}`, { kind: 'skip', note: 'failed' });
        break;
      case 'watch.finished':
        gates.settle('watch', { kind: 'done' });
        break;
      case 'rollback.started':
        gates.settleAll('change:', { kind: 'skip', note: 'not applied' });
        gates.settle('rollback', { kind: 'done', note: e.changeIds.join(',') });
        break;
      case 'change.rolledBack':
        gates.settle(`rolledBack:${e.changeId}`, e.ok ? { kind: 'done', note: formatMs(e.durationMs) } : { kind: 'fail', message: e.failure?.message ?? 'failed' });
        break;
      case 'run.finished':
        gates.end({ kind: 'skip', note: 'not run' });
        return finished;
      default:
        break;
    }
    return undefined;
  };
  return Object.assign(listener, { finished });
}
