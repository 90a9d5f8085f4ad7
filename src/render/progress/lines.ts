import type { Writable } from 'node:stream';
import type { EngineEvent, EventListener } from '../../model/events.js';
import { formatMs } from '../../model/units.js';

/**
 * Line output for CI and pipes: one line per finished step and per change event, never
 * cursor tricks. With `verbose`, step output is echoed as it comes.
 */
export function lineRenderer(out: Writable, opts: { verbose: boolean; total: number }): EventListener {
  const numbers = new Map<string, number>();
  let retried = false;
  /** How many attempts the running step can take, from its retried failures ('' when not known). */
  let of = '';
  // One event, one line: a line break in a label, a value or a message (a var holding one) must not split it.
  // On hosts, every line says which one first.
  const w = (line: string, host?: string) => out.write((host !== undefined ? `${host} | ` : '') + line.replace(/\r?\n/g, '⏎') + '\n');
  const rollout = { hosts: 0, done: new Set<string>(), failed: new Set<string>(), batches: 0 };
  const where = (e: { phase: string; changeId?: string; index: number }) => {
    const n = e.changeId ? numbers.get(e.changeId) : undefined;
    return `${e.phase}${e.changeId ? ` ${n !== undefined ? `${n}/${opts.total} ` : ''}${e.changeId}` : ''} · step ${e.index + 1}`;
  };
  return (e: EngineEvent) => {
    switch (e.type) {
      case 'run.started':
        e.changes.forEach((c, i) => numbers.set(c.id, i + 1));
        rollout.hosts = e.fleet?.hosts.length ?? 0;
        w(`runbook ${e.runbook}: run ${e.runId} (${e.changes.length} change${e.changes.length === 1 ? '' : 's'})`);
        break;
      case 'step.started':
        retried = e.attempt > 1;
        if (e.attempt === 1) of = '';
        // With --verbose the step's output follows: name the step first, so it does not read as the previous one's.
        if (opts.verbose) w(`[${where(e)}] ${e.label} …${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`, e.host);
        break;
      case 'step.output':
        if (opts.verbose) for (const line of e.chunk.replace(/\n$/, '').split('\n')) out.write(`${e.host !== undefined ? `${e.host} | ` : ''}    │ ${line}\n`);
        break;
      case 'step.finished': {
        if (e.attempts !== undefined) of = `/${e.attempts}`;
        const attempt = e.attempt > 1 || retried ? ` (attempt ${e.attempt}${of})` : '';
        // A failed attempt that is retried is not a verdict: only the last one may say FAILED.
        if (!e.ok && e.retrying) w(`[${where(e)}] ${e.label} … attempt ${e.attempt}${of} did not pass ${formatMs(e.durationMs)}: ${e.failure?.message ?? ''} — retrying`, e.host);
        else if (e.ok) w(`[${where(e)}] ${e.label} … ok ${formatMs(e.durationMs)}${attempt}`, e.host);
        else w(`[${where(e)}] ${e.label} … FAILED ${formatMs(e.durationMs)}${attempt}: ${e.failure?.message ?? ''}`, e.host);
        break;
      }
      case 'preflight.finished':
        w(e.ok ? 'preflight: all checks passed' : `preflight: ${e.failures.length} ${e.failures.length === 1 ? "check" : "checks"} failed — nothing was changed`);
        break;
      case 'checkpoint.taken':
        w(`checkpoint: ${e.commit.slice(0, 12)} in ${e.dir}${e.createdCommit ? ' (new commit)' : ' (tree was clean)'}`);
        break;
      case 'checkpoint.undone':
        w(e.restored ? `checkpoint undone: HEAD and index of ${e.dir} as before the run` : `checkpoint kept: ${e.reason}`);
        break;
      case 'change.started':
        w(`── change ${e.number}: ${e.title} (${e.changeId})`, e.host);
        break;
      case 'change.verified':
        w(`✔ ${e.changeId} ${e.verifySteps === 0 ? 'applied (no verify steps)' : 'applied and verified'} in ${formatMs(e.durationMs)}`, e.host);
        break;
      case 'change.failed':
        w(`✖ ${e.changeId} failed in ${e.phase}: ${e.failure.message}`, e.host);
        break;
      case 'batch.started': {
        // The batch before this one is over: its hosts that did not fail are done.
        w(`══ batch ${e.batch}/${e.of}: ${e.hosts.join(', ')} · ${rollout.done.size}/${rollout.hosts} hosts done · ${rollout.failed.size} failed`);
        for (const h of e.hosts) rollout.done.add(h);
        break;
      }
      case 'host.failed':
        rollout.failed.add(e.host);
        rollout.done.delete(e.host);
        w(`✖ host failed: ${e.reason}`, e.host);
        break;
      case 'watch.started':
        w(`watch: re-verifying every change for ${formatMs(e.durationMs)}`);
        break;
      case 'rollback.started':
        w(`↩ rolling back ${e.changeIds.join(', ')} (${e.reason})`, e.host);
        break;
      case 'change.rolledBack':
        w(e.ok ? `↩ ${e.changeId} rolled back in ${formatMs(e.durationMs)}` : `✖ rollback of ${e.changeId} FAILED: ${e.failure?.message ?? ''}`, e.host);
        break;
      default:
        break;
    }
  };
}

/** `--json`: every event as one JSON line (already redacted by the emitter). */
export function ndjsonRenderer(out: Writable): EventListener {
  return (e: EngineEvent) => {
    out.write(JSON.stringify({ ...e, at: new Date().toISOString() }) + '\n');
  };
}
