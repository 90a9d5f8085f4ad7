import {
  DefaultRenderer,
  figures,
  Listr,
  ListrDefaultRendererLogLevels,
  ListrLogger,
  ProcessOutput,
  type ListrDefaultRendererOptions,
  type ListrDefaultRendererTask,
  type ListrEventManager,
  type ListrTask,
} from 'listr2';
import type { EngineEvent, EventListener } from '../../model/events.js';
import type { Plan, PlannedChange } from '../../model/plan.js';
import { formatMs } from '../../model/units.js';
import { selectChanges } from '../../plan/select.js';
import { ChangeProgress } from './step-progress.js';

export type Outcome = { kind: 'done'; note?: string } | { kind: 'skip'; note: string } | { kind: 'fail'; message: string };

/** A promise settled by events; `end` settles every gate still waiting when the run is over. */
export class Gates {
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

export function apply(outcome: Outcome, task: { skip(m?: string): void; title: string }): void {
  if (outcome.kind === 'skip') task.skip(`${task.title} (${outcome.note})`);
  else if (outcome.kind === 'fail') throw new Error(`${task.title} — ${outcome.message}`);
  else if (outcome.note) task.title = `${task.title} (${outcome.note})`;
}

type GatedTask = { skip(m?: string): void; title: string; output: string };

/**
 * A task's life between two gates: it waits for `start` (skipped or failed there, it ends so),
 * shows what is sent to `outputs` under `outputKey` as its output while it runs, and settles
 * on `end` — `done` sets the title of a finished task.
 */
export async function betweenGates(
  task: GatedTask,
  gates: Gates,
  outputs: Map<string, (text: string) => void>,
  keys: { start: string; end: string; outputKey: string },
  hooks: { started?(): void; done?(outcome: Outcome & { kind: 'done' }): string } = {},
): Promise<void> {
  const started = await gates.get(keys.start);
  if (started.kind !== 'done') return apply(started, task);
  outputs.set(keys.outputKey, (text) => (task.output = text));
  hooks.started?.();
  const outcome = await gates.get(keys.end);
  outputs.delete(keys.outputKey);
  if (outcome.kind === 'done' && hooks.done) task.title = hooks.done(outcome);
  else apply(outcome, task);
}

/**
 * A change on this machine as a task: its progress block (`show` draws it) while it runs
 * between its gates, then one line: `how` it ended, in how long, in how many steps.
 */
export function changeTask(c: PlannedChange, steps: number, on: { gates: Gates; outputs: Map<string, (text: string) => void>; show: () => void }, how = ''): ListrTask {
  const id = c.change.id;
  return {
    title: `${c.number}. ${c.change.title} [risk ${c.change.risk}/10]`,
    // The last output only: the change's progress block, redrawn whole each time.
    rendererOptions: { outputBar: 1 },
    task: (_ctx, task) =>
      betweenGates(
        task,
        on.gates,
        on.outputs,
        { start: `change:${id}`, end: `verified:${id}`, outputKey: `change:${id}` },
        {
          started: on.show,
          done: (outcome) => `${task.title} — ${how}${c.verify.length ? 'verified' : 'applied (no verify steps)'} in ${outcome.note} (${steps} step${steps === 1 ? '' : 's'})`,
        },
      ),
  };
}

/** At most one redraw per frame, however fast events come: a step costs the same whatever the step count. */
const FRAME_MS = 100;

/**
 * listr2's default renderer, drawing at most once a frame. listr2 redraws on every task event;
 * with hundreds of fast steps that is most of the run's time on a real terminal.
 */
export class FrameRenderer extends DefaultRenderer {
  // The CLI picks this renderer only for a terminal (cli/commands/apply.ts); told to draw into
  // a given stream, it must not fall back because the process's own stdout is not one.
  static override nonTTY = true;
  private readonly roots: ListrDefaultRendererTask[];
  /** Running tasks drawn at least once. */
  private readonly drawn = new WeakSet<ListrDefaultRendererTask>();
  private timer: NodeJS.Timeout | undefined;
  private due = false;
  constructor(tasks: ListrDefaultRendererTask[], options: ListrDefaultRendererOptions, events: ListrEventManager) {
    super(tasks, options, events);
    this.roots = tasks;
  }
  override update(): void {
    if (this.timer) {
      this.due = true;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.due) {
        this.due = false;
        this.update();
      }
    }, FRAME_MS);
    super.update();
    if (this.resendEarlyOutput(this.roots)) {
      super.update();
      this.due = false;
    }
  }
  override end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    super.end();
  }
  /**
   * listr2 takes a task's output from the first frame that draws the task: what a task was told
   * before (a subtask started and given its row between two frames, the common case with a
   * frame a tenth of a second long) would never be shown. Once drawn, it is told again.
   */
  private resendEarlyOutput(tasks: ListrDefaultRendererTask[]): boolean {
    let resent = false;
    for (const task of tasks) {
      if (task.hasFinalized()) continue;
      if (task.isStarted() && !this.drawn.has(task)) {
        this.drawn.add(task);
        if (task.output) {
          task.output$ = task.output;
          resent = true;
        }
      }
      if (task.hasSubtasks() && this.resendEarlyOutput(task.subtasks)) resent = true;
    }
    return resent;
  }
}

/**
 * Runs the tasks with the frame-limited renderer, drawing into `output` (tests) or stdout;
 * settles when listr2 is done drawing. listr2's own SIGINT handler would exit(127) on the
 * spot: no rollback, the step's process group orphaned, the lock left behind. The CLI handles
 * interrupts; listr2 only draws.
 */
export function runTasks(tasks: ListrTask[], output?: NodeJS.WriteStream): Promise<void> {
  const logger = output ? new ListrLogger({ useIcons: true, toStderr: [], processOutput: new ProcessOutput(output, output) }) : undefined;
  const listr = new Listr(tasks, {
    renderer: FrameRenderer,
    exitOnError: false,
    registerSignalListeners: false,
    rendererOptions: {
      collapseSubtasks: true,
      showErrorMessage: true,
      // listr2 marks a failed task that has subtasks with its running pointer (in red): a failure reads as one.
      icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross },
      ...(logger ? { logger } : {}),
    },
    collectErrors: false,
  });
  return listr.run().then(
    () => undefined,
    () => undefined,
  );
}

export interface ListrRendererOptions {
  verbose: boolean;
  /** `apply --rehearse`: each change is applied and verified, rolled back, proven, and applied again before its task is done. */
  rehearse?: boolean;
  /** Where to draw (tests): default the process's stdout. */
  output?: NodeJS.WriteStream;
}

/**
 * listr2 progress for a terminal: one task per change. The running change shows a counter of
 * its finished steps, the step running now with its live output, and its last failures and
 * retries; finished changes collapse to one line. What is drawn does not grow with the number
 * of steps, and it is drawn at most once a frame. Driven by engine events: the executor never
 * knows it exists.
 */
export function listrRenderer(plan: Plan, _total: number, options: ListrRendererOptions): EventListener & { finished: Promise<void> } {
  const { verbose } = options;
  const rehearse = options.rehearse === true;
  /** Changes whose rehearsal is under way: their rollback is drawn under the change, not as the run's rollback. */
  const rehearsing = new Set<string>();
  /** Changes verified once in a rehearsal run: the second verification (after the rehearsal) finishes them. */
  const verifiedOnce = new Set<string>();
  const inChange = (e: { phase: string; changeId?: string }) => e.phase !== 'rollback' || (e.changeId !== undefined && rehearsing.has(e.changeId));
  const prefix = (phase: string) => (phase === 'verify' ? 'verify: ' : phase === 'rollback' ? 'rehearsal, undo: ' : phase === 'rehearse' ? 'rehearsal, check: ' : '');
  const gates = new Gates();
  const outputs = new Map<string, (text: string) => void>();
  const progress = new Map<string, ChangeProgress>();
  const show = (changeId: string) => {
    const p = progress.get(changeId);
    if (p) outputs.get(`change:${changeId}`)?.(p.text());
  };

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
    const steps = (c.apply.length + c.verify.length) * (rehearse ? 2 : 1) + (rehearse ? (c.rehearse?.length ?? 0) : 0);
    // Counted from the first event: listr2 starts the task a moment after the change's first steps may have finished.
    progress.set(id, new ChangeProgress(steps));
    tasks.push(changeTask(c, steps, { gates, outputs, show: () => show(id) }, rehearse && c.irreversible === undefined ? 'rehearsed (undo exact), then ' : ''));
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

  const finished = runTasks(tasks, options.output);

  const listener = (e: EngineEvent) => {
    switch (e.type) {
      case 'step.started':
        if ((e.phase === 'apply' || e.phase === 'verify' || e.phase === 'rehearse' || (e.phase === 'rollback' && inChange(e))) && e.changeId) {
          progress.get(e.changeId)?.started(`${prefix(e.phase)}${e.label}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`);
          show(e.changeId);
        }
        break;
      case 'step.output': {
        const line = e.chunk.replace(/\s+$/, '').split('\n').pop() ?? '';
        if (e.phase === 'preflight') {
          if (verbose) outputs.get('preflight')?.(line);
        } else if (!inChange(e)) outputs.get(`rollback:${e.changeId}`)?.(line);
        else if (e.changeId) {
          progress.get(e.changeId)?.output(line);
          show(e.changeId);
        }
        break;
      }
      case 'step.finished':
        if (e.phase === 'preflight') outputs.get('preflight')?.(`${e.ok ? '✔' : '✖'} ${e.label}${e.ok ? '' : `: ${e.failure?.message}`}`);
        else if (!inChange(e)) outputs.get(`rollback:${e.changeId}`)?.(`${e.ok ? '✔' : '✖'} ${e.label}`);
        else if (e.changeId) {
          const p = progress.get(e.changeId);
          if (e.ok && p && e.phase !== 'rollback') p.finished++;
          else if (!e.ok) p?.problem(`${prefix(e.phase)}${e.label}: attempt ${e.attempt} failed: ${e.failure?.message ?? ''}`);
          show(e.changeId);
        }
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
        // A rehearsal follows the first verification; the change is done once applied again.
        if (rehearse && !verifiedOnce.has(e.changeId)) verifiedOnce.add(e.changeId);
        else gates.settle(`verified:${e.changeId}`, { kind: 'done', note: formatMs(e.durationMs) });
        break;
      case 'rehearsal.started':
        rehearsing.add(e.changeId);
        progress.get(e.changeId)?.started('rehearsal: rolling back');
        show(e.changeId);
        break;
      case 'rehearsal.finished':
        rehearsing.delete(e.changeId);
        if (e.result === 'skipped') gates.settle(`verified:${e.changeId}`, { kind: 'done', note: 'not rehearsed: it cannot be undone' });
        else if (e.result === 'passed') progress.get(e.changeId)?.started('rehearsal passed: applying again');
        show(e.changeId);
        break;
      case 'change.failed':
        if (e.phase === 'watch') gates.settle('watch', { kind: 'fail', message: `${e.changeId}: ${e.failure.message}` });
        else gates.settle(`verified:${e.changeId}`, { kind: 'fail', message: `${e.phase} failed: ${e.failure.message}` });
        break;
      case 'watch.finished':
        gates.settle('watch', { kind: 'done' });
        break;
      case 'rollback.started':
        if (rehearsing.size > 0) break;
        gates.settleAll('change:', { kind: 'skip', note: 'not applied' });
        gates.settle('rollback', { kind: 'done', note: e.changeIds.join(',') });
        break;
      case 'change.rolledBack':
        if (rehearsing.has(e.changeId)) break;
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
