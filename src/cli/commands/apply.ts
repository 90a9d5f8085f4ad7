import { hostname, userInfo } from 'node:os';
import { decideApply, type ApplyDecision } from '../../history/already-applied.js';
import { remaining } from '../../history/applied-state.js';
import { allRuns, isUnsettled, type RunView } from '../../history/runs.js';
import { UsageError } from '../../model/diagnostic.js';
import type { EventListener } from '../../model/events.js';
import type { Plan } from '../../model/plan.js';
import { newRunId } from '../../model/run-id.js';
import { loadPlan } from '../../plan/load-plan.js';
import { selectChanges } from '../../plan/select.js';
import { lineRenderer, ndjsonRenderer } from '../../render/progress/lines.js';
import { junitCollector, junitXml } from '../../render/junit.js';
import { renderReport } from '../../render/report.js';
import { previewChanges } from '../../run/dry-run.js';
import { runPreflightOnly } from '../../run/preflight.js';
import { createRedactor } from '../../secrets/redact.js';
import type { StateStore } from '../../state/contract.js';
import { deadHolder, describeHolder } from '../../state/file/lock-file.js';
import { confirm, interactive } from '../kit/confirm.js';
import { damagedJournal } from '../kit/damaged-journal.js';
import { editedSinceApply } from '../kit/edit-warnings.js';
import { loadOptions } from '../kit/load-options.js';
import { checkSamePlan, checkSavedPlan, readSavedPlan } from '../kit/plan-file.js';
import { checkReportPath, writeReport as writeJunit } from '../kit/report-file.js';
import { withLock } from '../kit/locked.js';
import { cleanUpSnapshots } from '../kit/snapshot-cleanup.js';
import { runbookCommand } from '../kit/next-command.js';
import { withStore } from '../kit/open-store.js';
import type { ApplyOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';
import { APPLY_INTERRUPTS, interruptLevels } from '../kit/signals.js';

/** What the policy asks of this apply: --accept-risk for changes above maxRisk, a confirmation (or --yes) for those at or above confirmFrom. */
function policyNeeds(plan: Plan, options: ApplyOptions) {
  const selected = selectChanges(plan, options.only, options.from);
  return {
    acceptRisk: selected.filter((c) => c.needsAcceptRisk).map((c) => `${c.change.id} (risk ${c.change.risk})`),
    confirm: selected.filter((c) => c.needsConfirm).map((c) => `${c.number}. ${c.change.id} (risk ${c.change.risk}/10)`),
  };
}

/** Refusals that need no question: a missing --accept-risk, or a confirmation with no terminal to ask on. */
function checkPolicy(plan: Plan, options: ApplyOptions): number | undefined {
  const needs = policyNeeds(plan, options);
  if (needs.acceptRisk.length && !options.acceptRisk) {
    process.stderr.write(`runbook: ${needs.acceptRisk.join(', ')} above policy maxRisk ${plan.runbook.policy.maxRisk}; review the plan and pass --accept-risk to apply anyway\n`);
    return 2;
  }
  if (needs.confirm.length && !options.yes && !interactive()) {
    process.stderr.write(`runbook: ${needs.confirm.join(', ')} ${needs.confirm.length === 1 ? 'needs' : 'need'} confirmation (risk ≥ ${plan.runbook.policy.confirmFrom}); no terminal to ask on: pass --yes\n`);
    return 2;
  }
  return undefined;
}

/** Why an apply may not start now (exit 3 or 4), said with the exact command that clears it; undefined when it may. */
function blockers(runs: RunView[], lock: Awaited<ReturnType<StateStore['lockHolder']>>, file: string, options: ApplyOptions): { code: number; message: string } | undefined {
  const damaged = runs.find((r) => r.corrupt);
  if (damaged) return { code: 3, message: damagedJournal(damaged.corrupt!, 'Nothing was changed: applying on top of it could not be undone in order.', runbookCommand(['apply', file], options)) };
  const unsettled = runs.filter((r) => isUnsettled(r.state));
  const r = unsettled[unsettled.length - 1];
  if (r) {
    const left = remaining(r.state)
      .map((c) => `${c.id} (${c.status})`)
      .join(', ') || 'the git checkpoint commit';
    return {
      code: 3,
      message:
        `runbook: run ${r.state.runId} did not finish cleanly${r.torn ? ' (its journal ends in a torn line, ignored)' : ''}; still applied: ${left}.\n` +
        `Restore first with: ${runbookCommand(['rollback', file], options)}\n`,
    };
  }
  // A holder provably dead on this host: the real apply takes its lock over (and says so).
  if (!lock || (lock.stale && !lock.unreadable && deadHolder(lock.holder))) return undefined;
  const unlock = runbookCommand(['unlock', file], { ...options, varsFile: [] });
  if (lock.unreadable) return { code: 4, message: `runbook: locked: the lock is unreadable (${lock.unreadable}); if no apply or rollback is running, clear it with: ${unlock} --force\n` };
  if (lock.stale) return { code: 4, message: `runbook: stale lock: held by ${describeHolder(lock.holder)}, but that process is gone. Check nothing is running, then clear it with: ${unlock}\n` };
  return { code: 4, message: `runbook: locked by another run: ${describeHolder(lock.holder)}; if no apply or rollback is running, clear it with: ${unlock} --force\n` };
}

/** "run R at T" for a change still applied by an earlier run. */
function byRun(by: { runId: string; at?: string }): string {
  return `run ${by.runId}${by.at ? ` at ${by.at}` : ''}`;
}

/**
 * State-aware apply: which selected changes run, which are skipped (already applied as they are)
 * and, when some are applied from another definition and not named in --reapply, the refusal
 * (exit 2) with both ways out.
 */
function stateAware(plan: Plan, runs: RunView[], file: string, options: ApplyOptions): { decision: ApplyDecision; skipLines: string[]; refused?: string } {
  const decision = decideApply(selectChanges(plan, options.only, options.from), runs, options.reapply ?? []);
  const skipLines = decision.skip.map(({ change, by }) => `already applied: ${change.number}. ${change.change.id} — by ${byRun(by)}, same definition; skipped`);
  if (decision.refuse.length === 0) return { decision, skipLines };
  const ids = decision.refuse.map((r) => r.change.change.id);
  const sameVars = options.var.length ? ' (with the same --var options)' : '';
  const refused =
    decision.refuse.map(({ change, by }) => `runbook: ${change.number}. ${change.change.id} is applied (by ${byRun(by)}) from another definition than the runbook's now (edited, or its vars changed)`).join('\n') +
    `\nNothing was changed. Either undo what is applied first: ${runbookCommand(['rollback', file], options)}\n` +
    `or apply ${ids.length === 1 ? 'it' : 'them'} again on purpose, on top of what is applied (journaled as replacing it): ${runbookCommand(['apply', file, ...ids.flatMap((id) => ['--reapply', id]), ...(options.only ? ['--only', options.only] : []), ...(options.from ? ['--from', options.from] : [])], options)}${sameVars}\n`;
  return { decision, skipLines, refused };
}

/**
 * `--dry-run`: preflight for real (read-only), what each step would do, and whether the real
 * apply could start (lock, unfinished runs: read, not taken) and what it will ask for. Needs no
 * --yes or --accept-risk: it changes nothing. Exit: what the real apply would be refused with
 * (3, 4), else 1 when preflight fails, else 0.
 */
async function dryRun(plan: Plan, file: string, options: ApplyOptions): Promise<number> {
  const out = process.stdout;
  const json = options.json;
  const say = (line: string) => void (json ? undefined : out.write(`${line}\n`));
  const emit = (event: Record<string, unknown>) => void (json ? out.write(JSON.stringify({ ...event, at: new Date().toISOString() }) + '\n') : undefined);
  const redact = createRedactor(plan.secretValues);
  say(`Dry run of ${plan.runbook.name}: preflight runs for real (read-only); nothing else is changed.`);
  if (options.rehearse) say('with --rehearse: each change below is applied and verified, rolled back, its undo proven (files and crontabs byte-identical, its rehearse checks), then applied and verified again');
  const listener = json ? ndjsonRenderer(out) : lineRenderer(out, { verbose: options.verbose, total: plan.changes.length });
  const ok = await runPreflightOnly(plan, [listener]);
  if (plan.checkpoint) {
    say(`will run   checkpoint: git commit in ${plan.checkpoint.dir} ("${plan.checkpoint.message}")`);
    emit({ type: 'dry-run.checkpoint', dir: plan.checkpoint.dir, message: plan.checkpoint.message });
  }
  let change = '';
  for (const line of await previewChanges(plan, selectChanges(plan, options.only, options.from), { rehearse: options.rehearse })) {
    if (line.change !== change) say(`── ${(change = line.change ?? '')}`);
    say(redact(`${line.verdict.padEnd(14)} ${line.phase.padEnd(6)} ${line.label}${line.detail !== line.label ? ` — ${line.detail}` : ''}`));
    emit({ type: 'dry-run.step', change: line.change ?? null, phase: line.phase, verdict: line.verdict, label: redact(line.label), detail: redact(line.detail) });
  }

  const needs = policyNeeds(plan, options);
  const asks = [
    ...(needs.confirm.length ? [`a confirmation (or --yes) for ${needs.confirm.join(', ')} (risk ≥ ${plan.runbook.policy.confirmFrom})`] : []),
    ...(needs.acceptRisk.length ? [`--accept-risk for ${needs.acceptRisk.join(', ')} (above policy maxRisk ${plan.runbook.policy.maxRisk})`] : []),
  ];
  say(asks.length ? `the real apply will need: ${asks.join(' and ')}` : 'the real apply needs no confirmation');

  const { runs, lock } = await withStore(file, options, async (store) => ({ runs: await allRuns(store), lock: await store.lockHolder() }));
  const aware = stateAware(plan, runs, file, options);
  for (const line of aware.skipLines) say(line);
  const blocked = blockers(runs, lock, file, options) ?? (aware.refused ? { code: 2, message: aware.refused } : undefined);
  if (blocked) say(`the real apply would be refused now (exit ${blocked.code}):\n${blocked.message.replace(/^runbook: /, '').trimEnd()}`);
  else say('lock: free; no unfinished run — the real apply can start');
  const exitCode = blocked?.code ?? (ok ? 0 : 1);
  emit({
    type: 'dry-run.finished',
    exitCode,
    preflightOk: ok,
    needs: { confirm: needs.confirm, acceptRisk: needs.acceptRisk },
    lock,
    unfinished: runs.filter((r) => isUnsettled(r.state)).map((r) => r.state.runId),
    damaged: runs.filter((r) => r.corrupt).map((r) => ({ run: r.state.runId, file: r.corrupt!.path, line: r.corrupt!.line })),
    refused: blocked ? blocked.message.replace(/^runbook: /, '').trimEnd() : null,
  });
  return exitCode;
}

/** The hosts of the run's changes, connected and locked as this run. */
async function reachHosts(plan: Plan, runId: string, file: string, signal: AbortSignal) {
  const { openHosts } = await import('../../run/remote/fleet-hosts.js');
  const involved = new Set(plan.changes.flatMap((c) => (c.targets ?? []).map((t) => t.host)));
  const names = plan.fleet!.hosts.map((h) => h.name).filter((h) => involved.has(h));
  const lock = { runId, user: userInfo().username, host: hostname(), pid: process.pid, command: `runbook apply ${file}` };
  return openHosts(names, { lock, signal, ...(plan.fleet!.sshConfig ? { sshConfig: plan.fleet!.sshConfig } : {}) });
}

async function renderers(plan: Plan, options: ApplyOptions, total: number): Promise<EventListener[]> {
  if (options.json) return [ndjsonRenderer(process.stdout)];
  if (process.stdout.isTTY && !process.env.CI && plan.fleet) {
    const { fleetListrRenderer } = await import('../../render/progress/listr-fleet.js');
    return [fleetListrRenderer(plan, { verbose: options.verbose })];
  }
  if (process.stdout.isTTY && !process.env.CI) {
    const { listrRenderer } = await import('../../render/progress/listr.js');
    return [listrRenderer(plan, total, { verbose: options.verbose, rehearse: options.rehearse === true })];
  }
  return [lineRenderer(process.stdout, { verbose: options.verbose, total })];
}

export async function run(planOrRunbook: string | undefined, given: ApplyOptions): Promise<number> {
  let options = given;
  try {
    // A saved plan (plan --out) names its runbook and vars files: checked before anything else, then applied as that runbook.
    const saved = readSavedPlan(planOrRunbook!);
    const toApply = saved ? checkSavedPlan(planOrRunbook!, saved, given) : undefined;
    const file = toApply?.file ?? planOrRunbook;
    if (toApply) options = toApply.options;
    const plan = await loadPlan(file!, { ...loadOptions(options), strictEnv: true });
    if (saved) checkSamePlan(planOrRunbook!, saved, plan);
    if (options.rehearse && plan.changes.some((c) => c.targets !== undefined)) {
      throw new UsageError(`--rehearse rehearses changes on this machine; ${plan.changes.filter((c) => c.targets !== undefined).map((c) => c.change.id).join(', ')} run on hosts, where a rehearsal is not supported yet: rehearse on a staging host group with a runbook of local changes, or apply without --rehearse`);
    }
    if (options.only !== undefined && options.from !== undefined) throw new UsageError('--only and --from cannot be used together: --only applies one change, --from starts at one and applies the rest');
    for (const id of [options.only, options.from, ...(options.reapply ?? [])]) {
      if (id !== undefined && !plan.changes.some((c) => c.change.id === id)) throw new UsageError(`no change "${id}" in ${file}; changes: ${plan.changes.map((c) => c.change.id).join(', ')}`);
    }
    const junitPath = options.junit !== undefined ? checkReportPath(options.junit, '--junit') : undefined;
    if (options.dryRun) return await dryRun(plan, file!, options);
    const refused = checkPolicy(plan, options);
    if (refused !== undefined) return refused;

    // Interrupts are ours from before the lock is taken to after it is released: the default
    // action (exit at once) would leave the lock behind or the run half-done.
    // Said where the progress lines go when they are lines (a pipe, CI): there it reads in order, before the rollback it announces.
    const progressLines = !options.json && !(process.stdout.isTTY && !process.env.CI);
    const interrupts = interruptLevels(APPLY_INTERRUPTS, (text) => (progressLines ? process.stdout : process.stderr).write(text));
    const [stopApply, stopRollback, killRollback] = interrupts.levels as [AbortSignal, AbortSignal, AbortSignal];
    const interruptedBeforeStart = () => {
      process.stderr.write('runbook: interrupted before anything was changed\n');
      return 130;
    };
    try {
      return await withStore(file!, options, async (store) => {
        return await withLock(store, `runbook apply ${file}`, undefined, async () => {
          const runs = await allRuns(store);
          const blocked = blockers(runs, null, file!, options);
          if (blocked) {
            process.stderr.write(blocked.message);
            return blocked.code;
          }
          const { decision, skipLines, refused } = stateAware(plan, runs, file!, options);
          if (refused) {
            process.stderr.write(refused);
            return 2;
          }
          const say = (line: string) => (options.json ? process.stderr : process.stdout).write(`${line}\n`);
          for (const line of skipLines) say(line);
          if (decision.run.length === 0) {
            say(`nothing to apply: ${decision.skip.length === 1 ? 'the change is' : `all ${decision.skip.length} changes are`} already applied as the runbook defines ${decision.skip.length === 1 ? 'it' : 'them'}; nothing was changed (to apply again on purpose: --reapply ID; to undo: ${runbookCommand(['rollback', file!], options)})`);
            return 0;
          }
          for (const { change, replaces } of decision.run) if (replaces) say(`reapplying: ${change.number}. ${change.change.id} — on top of what ${byRun(replaces)} applied (journaled; rollback undoes this run's first, then that one's)`);
          const runPlan: Plan = { ...plan, changes: decision.run.map((r) => r.change) };
          for (const warning of await editedSinceApply(plan, store)) if (!decision.run.some((r) => r.replaces && warning.includes(`change ${r.change.change.id} `))) process.stderr.write(`${warning}\n`);
          const toConfirm = policyNeeds(runPlan, { ...options, only: undefined, from: undefined }).confirm;
          if (toConfirm.length && !options.yes && !(await confirm(`Apply ${toConfirm.join(', ')}?`, stopApply))) {
            if (stopApply.aborted) return interruptedBeforeStart();
            process.stderr.write('runbook: not confirmed; nothing was changed\n');
            return 1;
          }
          if (stopApply.aborted) return interruptedBeforeStart();
          const runId = newRunId(runs.map((r) => r.state.runId));
          // Every host is reached (and locked for this run) before anything changes or is journaled: a host another run holds is exit 4 here.
          const hosts = runPlan.fleet ? await reachHosts(runPlan, runId, file!, stopApply) : undefined;
          const journal = await store.createRun(runId).catch(async (error: unknown) => {
            await hosts?.close();
            throw error;
          });
          const total = runPlan.changes.length;
          const listeners = await renderers(runPlan, options, total);
          const junit = junitPath !== undefined ? junitCollector() : undefined;
          if (junit) listeners.push(junit.listener);
          const { execute } = await import('../../run/executor.js');
          try {
            const result = await execute(runPlan, {
              runId,
              journal,
              listeners,
              signal: stopApply,
              rollbackSignals: { stop: stopRollback, kill: killRollback },
              env: process.env,
              command: `runbook apply ${file}`,
              skipped: decision.skip.map(({ change, by }) => ({ id: change.change.id, runId: by.runId, ...(by.at ? { at: by.at } : {}) })),
              replaces: Object.fromEntries(decision.run.flatMap(({ change, replaces }) => (replaces ? [[change.change.id, replaces]] : []))),
              ...(hosts ? { hosts: hosts.links } : {}),
              rehearse: options.rehearse === true,
            });
            await Promise.all(listeners.map((l) => (l as { finished?: Promise<void> }).finished));
            if (result.state.changes.length > 0 && remaining(result.state).length === 0) await cleanUpSnapshots(store);
            const report = createRedactor(plan.secretValues)(renderReport({ ...result, rollbackCommand: runbookCommand(['rollback', file!], options) }));
            (options.json ? process.stderr : process.stdout).write(report);
            for (const message of result.displayErrors) process.stderr.write(`warning: the progress display failed and was turned off (${message}); the run itself was not affected\n`);
            if (junit) {
              const changes = plan.changes.map((c) => ({ number: c.number, id: c.change.id, title: c.change.title }));
              await writeJunit(junitPath!, junitXml({ runbook: plan.runbook.name, kind: 'apply', runId, host: hostname(), changes }, junit.events));
            }
            return result.exitCode;
          } finally {
            await hosts?.close();
            await journal.close();
          }
        });
      });
    } finally {
      interrupts.dispose();
    }
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
