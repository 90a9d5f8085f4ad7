import { hostname, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { changeKey, remaining, type ChangeState, type RunState } from '../../history/applied-state.js';
import { allRuns, checkpointToUndo, lastRunWithChanges, readRunState, type RunView } from '../../history/runs.js';
import { UsageError } from '../../model/diagnostic.js';
import type { EventListener } from '../../model/events.js';
import type { Plan } from '../../model/plan.js';
import { glob, limitHosts } from '../../plan/fleet.js';
import { loadPlan } from '../../plan/load-plan.js';
import { lineRenderer, ndjsonRenderer } from '../../render/progress/lines.js';
import { junitCollector, junitXml } from '../../render/junit.js';
import { renderReport } from '../../render/report.js';
import { checkpointForeignChanges, resetToRunCheckpoint, undoRunCheckpoint } from '../../run/checkpoint.js';
import { Emitter } from '../../run/emitter.js';
import { stopOrphans } from '../../run/orphans.js';
import { openHosts } from '../../run/remote/fleet-hosts.js';
import { rollbackAcross } from '../../run/rollback-waves.js';
import { createRedactor } from '../../secrets/redact.js';
import { secretValues } from '../../secrets/secrets.js';
import { RunNotFoundError, type StateStore } from '../../state/contract.js';
import { confirm, interactive } from '../kit/confirm.js';
import { damagedJournal } from '../kit/damaged-journal.js';
import { loadOptions } from '../kit/load-options.js';
import { withLock } from '../kit/locked.js';
import { cleanUpSnapshots } from '../kit/snapshot-cleanup.js';
import { runbookCommand } from '../kit/next-command.js';
import { environmentOf, runbookKey, withStore } from '../kit/open-store.js';
import type { RollbackOptions } from '../kit/options.js';
import { plannedChecksums } from '../kit/planned-checksums.js';
import { checkReportPath, writeReport } from '../kit/report-file.js';
import { reportError } from '../kit/report-error.js';
import { otherEnvironmentOfRun, otherEnvironmentsWithRuns } from '../kit/run-environment.js';
import { interruptLevels, ROLLBACK_INTERRUPTS } from '../kit/signals.js';
import { localTarget } from '../../steps/kit/local-target.js';

/** The runbook as it is now, if it still loads: only for secret values and edit warnings. */
async function currentPlan(file: string, options: RollbackOptions): Promise<Plan | undefined> {
  try {
    return await loadPlan(file, loadOptions(options));
  } catch {
    return undefined;
  }
}

/**
 * The changes of `state` to undo, newest first: every one still applied, or with `--to ID`
 * those applied at or after ID (a usage error when ID is not one of the run's changes).
 */
function changesToUndo(state: RunState, to: string | undefined): ChangeState[] {
  if (to === undefined) return [...remaining(state)].reverse();
  const at = state.changes.findIndex((c) => c.id === to);
  if (at < 0) throw new UsageError(`change "${to}" is not one of run ${state.runId}'s changes (${state.changes.map((c) => c.id).join(', ')})`);
  return state.changes.slice(at).filter((c) => c.status !== 'rolled-back').reverse();
}

/** `rollback --limit`: which hosts it keeps (as the runbook's groups name them now; without a runbook that loads, by name or glob). */
function limitedHosts(plan: Plan | undefined, limit: string): (host: string) => boolean {
  if (plan) {
    const keep = limitHosts(plan.runbook.hosts, limit);
    return (host) => keep?.has(host) ?? true;
  }
  const patterns = limit.split(',').map((p) => p.trim()).filter(Boolean);
  return (host) => patterns.some((p) => !p.startsWith('!') && glob(p).test(host)) && !patterns.some((p) => p.startsWith('!') && glob(p.slice(1)).test(host));
}

/** Why there is nothing to do (exit 0, idempotent), or undefined when there is. */
function nothingToUndo(runs: RunView[], target: RunView | undefined, options: RollbackOptions): string | undefined {
  if (options.checkpoint && target?.state.checkpoint) return undefined;
  if (options.to !== undefined) {
    // Already rolled back down to it by an earlier `rollback --to`: in this run, or in a newer one that has nothing left.
    const newer = options.run && target ? [target] : target ? runs.slice(runs.findIndex((r) => r.state.runId === target.state.runId)) : runs;
    const holder = [...newer].reverse().find((r) => r.state.changes.some((c) => c.id === options.to));
    if (holder && changesToUndo(holder.state, options.to).length === 0) return `${options.to} and later are not applied`;
    if (!holder && target) return undefined; // changesToUndo says it is not one of the run's changes
  }
  if (!target || (remaining(target.state).length === 0 && !checkpointToUndo(target.state))) return 'no change is applied';
  return undefined;
}

/** Only a run that is not there counts as none; a state that cannot be read is reported as what it is. */
function notFoundAsUndefined(error: unknown): undefined {
  if (error instanceof RunNotFoundError) return undefined;
  throw error;
}

export async function run(file: string | undefined, options: RollbackOptions): Promise<number> {
  // Interrupts are ours from before the lock is taken to after it is released (see signals.ts).
  const interrupts = interruptLevels(ROLLBACK_INTERRUPTS, (text) => process.stderr.write(text));
  const [stopRollback, killRollback] = interrupts.levels as [AbortSignal, AbortSignal];
  // What to run to finish this rollback if it stops: the same run and --to, state and vars files.
  const again = runbookCommand(['rollback', file!, ...(options.run ? ['--run', options.run] : []), ...(options.to ? ['--to', options.to] : [])], options);
  try {
    const junitPath = options.junit !== undefined ? checkReportPath(options.junit, '--junit') : undefined;
    // The hosts options are checked before anything is undone (a --limit that matches nothing is exit 2), not swallowed
    // with the rest of a runbook that no longer loads: a typo must never widen a rollback.
    if (options.inventory !== undefined || options.limit !== undefined || options.sshConfig !== undefined) await loadPlan(file!, loadOptions(options));
    return await withStore(file!, options, async (store) => {
      return await withLock(store, `runbook rollback ${file}`, undefined, async () => {
        if (options.checkpoint && options.to) throw new UsageError('--checkpoint returns the checkout to before the run; it cannot be combined with --to');
        const runs = await allRuns(store);
        const withCheckpoint = [...runs].reverse().find((r) => r.state.checkpoint);
        const target = options.run ? await readRunState(store, options.run).catch(notFoundAsUndefined) : (lastRunWithChanges(runs) ?? (options.checkpoint ? withCheckpoint : undefined));
        if (options.run && !target) {
          const elsewhere = await otherEnvironmentOfRun(file!, options, store, options.run);
          const hint = elsewhere ? `; it is a run of environment ${elsewhere}: ${runbookCommand(['rollback', file!, '--run', options.run], { ...options, environment: elsewhere })}` : '';
          throw new UsageError(`no run "${options.run}" of environment ${environmentOf(options)} in ${store.location}${hint}`);
        }
        // A damaged journal at or after the run to undo: what it applied is unknown, so undoing under it could make things worse.
        const from = target ? runs.findIndex((r) => r.state.runId === target.state.runId) : 0;
        const damaged = (target?.corrupt ? [target] : []).concat(runs.slice(Math.max(from, 0)).filter((r) => r.corrupt && r !== target));
        if (damaged[0]) {
          process.stderr.write(damagedJournal(damaged[0].corrupt!, 'Nothing was rolled back: undoing without all of its events could leave things half-restored.', again));
          return 3;
        }
        const nothing = nothingToUndo(runs, target, options);
        if (nothing !== undefined) {
          if (options.json) process.stdout.write(JSON.stringify({ type: 'rollback.nothing', runId: target?.state.runId ?? null, message: nothing, at: new Date().toISOString() }) + '\n');
          (options.json ? process.stderr : process.stdout).write(`nothing to roll back${target ? ` in run ${target.state.runId}` : ''}: ${nothing}\n`);
          const others = options.run ? [] : await otherEnvironmentsWithRuns(file!, options, store);
          if (others.length) process.stderr.write(`note: environment ${environmentOf(options)} has nothing to undo; other environments of this runbook have runs: ${others.join(', ')} (${runbookCommand(['rollback', file!], { ...options, environment: 'NAME' })})\n`);
          // CI reads the report even when there was nothing to do: every change of the run, skipped.
          if (junitPath !== undefined) {
            const shown = target ?? runs[runs.length - 1];
            const changes = (shown?.state.changes ?? []).map((c) => ({ number: c.number, id: c.id, title: c.title }));
            await writeReport(junitPath, junitXml({ runbook: shown?.state.runbook ?? runbookKey(file!), kind: 'rollback', runId: shown?.state.runId ?? 'none', host: hostname(), changes }, []));
          }
          return 0;
        }
        // Without --run (and --to/--checkpoint, which name one run's changes): every run that still has changes applied, newest first.
        const targets = options.run || options.to !== undefined || options.checkpoint ? [target!] : [...runs].reverse().filter((r) => remaining(r.state).length > 0 || checkpointToUndo(r.state));
        const { state } = target!;
        if (options.checkpoint && state.checkpoint) {
          const foreign = await checkpointForeignChanges(state);
          if (foreign.length > 0 && options.force) process.stderr.write(`--force: discarding changes that are not this run’s own:\n${foreign.map((f) => `  ${f}`).join('\n')}\n`);
          if (foreign.length > 0 && !options.force) {
            process.stderr.write(
              `runbook: refusing to reset ${state.checkpoint.dir} to checkpoint ${state.checkpoint.commit.slice(0, 12)}: it has changes that are not this run's own:\n${foreign.map((f) => `  ${f}`).join('\n')}\n` +
                `Nothing was changed. Look at them, then run again with --force to discard them (or without --checkpoint to undo only the run's changes). Files created since are never deleted.\n`,
            );
            return 3;
          }
        }
        const plan = await currentPlan(file!, options);
        const onlyHosts = options.limit !== undefined ? limitedHosts(plan, options.limit) : undefined;
        const plannedUndo = targets
          .map((t) => ({ view: t, changes: changesToUndo(t.state, options.to).filter((c) => !onlyHosts || (c.host !== undefined && onlyHosts(c.host))) }))
          .filter((p) => !onlyHosts || p.changes.length > 0);
        if (onlyHosts && plannedUndo.length === 0) {
          (options.json ? process.stderr : process.stdout).write(`nothing to roll back on the hosts --limit ${options.limit} names\n`);
          return 0;
        }
        if (plan) {
          const sums = plannedChecksums(plan);
          for (const { changes } of plannedUndo) for (const c of changes) if (sums.has(changeKey(c)) && sums.get(changeKey(c)) !== c.checksum) process.stderr.write(`warning: ${changeKey(c)} was edited in ${file} since it was applied; undoing what was recorded at apply time\n`);
        }
        const question = plannedUndo.map(({ view, changes }) => `${changes.map((c) => c.id).join(', ') || 'the git checkpoint'} (run ${view.state.runId})`).join(', then ');
        if (interactive() && !options.yes && !(await confirm(`Roll back ${question}?`, stopRollback))) {
          process.stderr.write(`runbook: ${stopRollback.aborted ? 'interrupted' : 'not confirmed'}; nothing was changed\n`);
          return stopRollback.aborted ? 130 : 1;
        }
        if (stopRollback.aborted) {
          process.stderr.write('runbook: interrupted before anything was changed\n');
          return 130;
        }
        // One JUnit report for the whole rollback: every run it undid, in the order it undid them.
        const junit = junitPath !== undefined ? { ...junitCollector(), runs: [] as RunState[] } : undefined;
        const writeJunit = async () => {
          if (!junit || !junitPath) return;
          const changes = junit.runs.flatMap((r) => r.changes.map((c) => ({ number: c.number, id: c.id, title: c.title })));
          const runIds = junit.runs.map((r) => r.runId).join(', ') || 'none';
          await writeReport(junitPath, junitXml({ runbook: plan?.runbook.name ?? junit.runs[0]?.runbook ?? runbookKey(file!), kind: 'rollback', runId: runIds, host: hostname(), changes }, junit.events));
        };
        const out = options.json ? process.stderr : process.stdout;
        for (const [i, { view, changes }] of plannedUndo.entries()) {
          // An older run with a damaged journal: the newer runs above it are undone (in order), it is not.
          if (view.corrupt) {
            process.stderr.write(damagedJournal(view.corrupt, `Nothing of run ${view.state.runId}${i > 0 ? ' or older runs' : ''} was rolled back: undoing without all of its events could leave things half-restored.`, again));
            return 3;
          }
          const exitCode = await undoRun(view, changes, {
            file: file!,
            options,
            store,
            plan,
            again,
            signals: { stop: stopRollback, kill: killRollback },
            junit,
            // Runs left applied once this one is undone: older targets not reached yet, and any run this rollback does not cover.
            othersApplied: (r) => r.filter((v) => v.state.runId !== view.state.runId && remaining(v.state).length > 0).map((v) => v.state.runId),
          });
          if (exitCode !== 0) {
            const left = plannedUndo.slice(i + 1).map((p) => p.view.state.runId);
            if (left.length) out.write(`not started: the rollback of older run${left.length === 1 ? '' : 's'} ${left.join(', ')} (still applied); fix the cause above, then run: ${again}\n`);
            await writeJunit();
            return exitCode;
          }
        }
        await writeJunit();
        return 0;
      });
    });
  } catch (error) {
    return reportError(error, options.verbose);
  } finally {
    interrupts.dispose();
  }
}

interface UndoRunContext {
  file: string;
  options: RollbackOptions;
  store: StateStore;
  plan: Plan | undefined;
  again: string;
  signals: { stop: AbortSignal; kill: AbortSignal };
  /** The runs (other than this one) that still have changes applied, given every run as it is now. */
  othersApplied: (runs: RunView[]) => string[];
  /** `--junit`: collects this run's events, and the run as it ended. */
  junit?: { listener: EventListener; runs: RunState[] };
}

/** Undoes `toUndo` of one run (journaled in that run), takes its checkpoint back when nothing of it is left, prints its report; the exit code. */
async function undoRun(view: RunView, toUndo: ChangeState[], ctx: UndoRunContext): Promise<number> {
  const { file, options, store, plan } = ctx;
  const { state } = view;
  if (view.torn) process.stderr.write(`note: the journal of run ${state.runId} ends in a torn line (a crash while writing); it was ignored, nothing before it is lost\n`);
  const secrets = secretValues([...new Set([...state.secrets, ...(plan?.runbook.secrets ?? [])])], plan?.vars ?? {}, process.env);
  const redact = createRedactor([...(plan?.secretValues ?? []), ...secrets.values()]);
  const journal = await store.openRun(state.runId);
  const listeners = options.json ? [ndjsonRenderer(process.stdout)] : [lineRenderer(process.stdout, { verbose: options.verbose, total: state.changes.length })];
  if (ctx.junit) listeners.push(ctx.junit.listener);
  const emitter = new Emitter(journal, listeners, redact);
  const started = performance.now();
  try {
    const base = { runbookDir: dirname(resolve(file)), target: localTarget(dirname(resolve(file))), workdir: dirname(resolve(file)), env: process.env, recorded: { checkpointCommit: state.checkpoint?.commit, checkpointDir: state.checkpoint?.dir }, output: () => {}, force: options.force };
    // A run that died may have left steps running (its journaled process groups): they are stopped first.
    if (!state.finished) for (const line of await stopOrphans(state)) process.stderr.write(`${line}\n`);
    const hostNames = [...new Set(toUndo.flatMap((c) => (c.host !== undefined ? [c.host] : [])))];
    const sshConfig = options.sshConfig ?? state.fleet?.sshConfig;
    const opened = hostNames.length ? await openHosts(hostNames, { lock: { runId: state.runId, user: userInfo().username, host: hostname(), pid: process.pid, command: `runbook rollback ${file}`, reclaim: true }, ...(sshConfig ? { sshConfig } : {}) }) : undefined;
    const envFor = (host: string | undefined) => {
      if (host === undefined) return base;
      const link = opened?.links.get(host);
      return link && 'target' in link ? { ...base, target: link.target, workdir: link.workdir, env: {} } : (link?.unreachable ?? `${host}: not connected`);
    };
    let result;
    try {
      result = await rollbackAcross(toUndo, 'runbook rollback', emitter, envFor, secrets, ctx.signals);
    } finally {
      await opened?.close();
    }
    let checkpointNote = '';
    if (result.ok && options.checkpoint) {
      if (!state.checkpoint) checkpointNote = 'no checkpoint was recorded for this run; --checkpoint had nothing to reset';
      else {
        try {
          const reset = await resetToRunCheckpoint(state, options.force);
          checkpointNote = `reset the files of ${state.checkpoint.dir} to checkpoint ${state.checkpoint.commit.slice(0, 12)}`;
          if (reset.kept.length) checkpointNote += `\nkept (created since the checkpoint, not by this run): ${reset.kept.join(', ')}`;
        } catch (error) {
          process.stderr.write(`runbook: the changes were rolled back, but resetting to the checkpoint failed: ${(error as Error).message}\n`);
          return 3;
        }
      }
    }
    if (result.ok) await undoRunCheckpoint((await readRunState(store, state.runId)).state, emitter, options.checkpoint);
    const after = (await readRunState(store, state.runId)).state;
    const outcome = result.ok ? 'rolled-back' : 'rollback-failed';
    const exitCode = result.ok ? 0 : 3;
    await emitter.emit({ type: 'run.finished', outcome, exitCode, remaining: remaining(after).map(changeKey), durationMs: performance.now() - started }, true);
    const final = (await readRunState(store, state.runId)).state;
    if (remaining(final).length === 0) await cleanUpSnapshots(store);
    ctx.junit?.runs.push(final);
    const othersApplied = ctx.othersApplied(await allRuns(store));
    const out = options.json ? process.stderr : process.stdout;
    out.write(redact(renderReport({ state: final, outcome, rollbackFailure: result.failed, rollbackInterrupted: result.interrupted, rollbackCommand: ctx.again, command: 'rollback', othersApplied })));
    if (checkpointNote) out.write(`${checkpointNote}\n`);
    return exitCode;
  } finally {
    await journal.close();
  }
}
