import type { EngineEvent, EventListener, StepFailure } from '../model/events.js';
import { escapeXml } from './text/xml.js';

/** A change as the report lists it: every change of the runbook (apply) or of the run (rollback), in order. */
export interface JunitChange {
  number: number;
  id: string;
  title: string;
}

export interface JunitMeta {
  /** The runbook's name: every testcase's classname. */
  runbook: string;
  kind: 'apply' | 'rollback';
  runId: string;
  host: string;
  changes: JunitChange[];
}

type Timed = EngineEvent & { ms: number };

/** Collects the events of one apply or rollback (as listeners get them: redacted) for `junitXml`. */
export function junitCollector(now: () => number = Date.now): { listener: EventListener; events: Timed[] } {
  const events: Timed[] = [];
  return { events, listener: (e) => void (e.type === 'step.output' ? undefined : events.push({ ...e, ms: now() })) };
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

/** The failure's body: step, command, exit code and the tail of its output. */
function failureText(step: string | undefined, f: StepFailure): string {
  const lines = [...(step ? [`step: ${step}`] : []), `error: ${f.message}`];
  if (f.command) lines.push(`command: ${f.command}`);
  if (f.exitCode !== undefined && f.exitCode !== null) lines.push(`exit code: ${f.exitCode}`);
  if (f.timedOut) lines.push('timed out');
  if (f.outputTail) lines.push('output (last lines):', f.outputTail);
  return lines.join('\n');
}

interface Case {
  name: string;
  ms: number;
  failure?: { message: string; type: string; text: string };
  error?: { message: string; text: string };
  skipped?: string;
  out: string[];
}

function applyCases(meta: JunitMeta, events: Timed[]): Case[] {
  const started = events.find((e) => e.type === 'run.started');
  const selected = new Set(started?.type === 'run.started' ? started.changes.map((c) => c.id) : []);
  const preflight = events.find((e) => e.type === 'preflight.finished');
  const failedAt = events.find((e) => e.type === 'change.failed');
  const cases: Case[] = [];
  if (preflight?.type === 'preflight.finished' && !preflight.ok) {
    cases.push({ name: 'preflight', ms: 0, failure: { message: 'preflight failed: nothing was changed', type: 'preflight', text: preflight.failures.join('\n') }, out: [] });
  }
  for (const c of meta.changes) {
    const mine = events.filter((e) => 'changeId' in e && e.changeId === c.id);
    const name = `${c.number}. ${c.id} — ${c.title}`;
    if (!selected.has(c.id)) {
      cases.push({ name, ms: 0, skipped: 'not selected (--only / --from)', out: [] });
      continue;
    }
    const begin = mine.find((e) => e.type === 'change.started');
    if (!begin) {
      const why = preflight?.type === 'preflight.finished' && !preflight.ok ? 'preflight failed' : failedAt?.type === 'change.failed' ? `the run stopped at ${failedAt.changeId}` : 'the run ended before it';
      cases.push({ name, ms: 0, skipped: `not run: ${why}`, out: [] });
      continue;
    }
    const out: string[] = [];
    let lastFailedStep: string | undefined;
    for (const e of mine) {
      if (e.type === 'step.finished') {
        out.push(`${e.phase} step ${e.index + 1} "${e.label}": ${e.ok ? 'ok' : `failed (${e.failure?.message ?? ''})`} in ${Math.round(e.durationMs)}ms${e.attempt > 1 ? `, attempt ${e.attempt}` : ''}`);
        if (!e.ok && e.phase !== 'rollback') lastFailedStep = `${e.phase} step ${e.index + 1} "${e.label}"`;
      }
      if (e.type === 'change.rolledBack') out.push(e.ok ? 'rolled back' : `ROLLBACK FAILED: ${e.failure?.message ?? ''}`);
      if (e.type === 'rehearsal.finished') out.push(`rollback rehearsal ${e.result}${e.result === 'passed' ? ': undo exact, applied again' : e.failure ? `: ${e.failure.message}` : ''}`);
    }
    const end = [...mine].reverse().find((e) => e.type === 'change.verified' || e.type === 'change.applied' || e.type === 'change.failed') ?? mine[mine.length - 1]!;
    const kase: Case = { name, ms: end.ms - begin.ms, out };
    const failed = mine.find((e) => e.type === 'change.failed');
    if (failed?.type === 'change.failed') kase.failure = { message: `${lastFailedStep ?? failed.phase} failed: ${failed.failure.message}`, type: failed.phase, text: failureText(lastFailedStep, failed.failure) };
    else if (!mine.some((e) => e.type === 'change.applied' || e.type === 'change.verified')) kase.error = { message: 'did not finish (interrupted or the run stopped)', text: out.join('\n') };
    cases.push(kase);
  }
  return cases;
}

function rollbackCases(meta: JunitMeta, events: Timed[]): Case[] {
  return meta.changes.map((c) => {
    const mine = events.filter((e) => 'changeId' in e && e.changeId === c.id);
    const name = `${c.number}. ${c.id} — ${c.title}`;
    const begin = mine.find((e) => e.type === 'change.rollingBack');
    if (!begin) return { name, ms: 0, skipped: 'not rolled back by this command (not applied, or outside --to)', out: [] };
    const out = mine.flatMap((e) => (e.type === 'step.finished' ? [`${e.label}: ${e.ok ? 'ok' : `failed (${e.failure?.message ?? ''})`} in ${Math.round(e.durationMs)}ms`] : []));
    const done = mine.find((e) => e.type === 'change.rolledBack');
    const kase: Case = { name, ms: (done ?? mine[mine.length - 1]!).ms - begin.ms, out };
    const failedStep = [...mine].reverse().find((e) => e.type === 'step.finished' && !e.ok);
    const step = failedStep?.type === 'step.finished' ? `rollback step ${failedStep.index + 1} "${failedStep.label}"` : undefined;
    if (done?.type === 'change.rolledBack' && !done.ok) kase.failure = { message: `${step ?? 'rollback'} failed: ${done.failure?.message ?? ''}`, type: 'rollback', text: failureText(step, done.failure ?? { message: 'rollback failed' }) };
    else if (!done) kase.error = { message: 'rollback did not finish (interrupted)', text: out.join('\n') };
    return kase;
  });
}

/**
 * A JUnit XML report (the Ant/Jenkins format CI servers read) of one apply or rollback: one
 * testcase per change, classname the runbook's name; a failed change is a `<failure>` with the
 * step, command, exit code and output tail; a change not run is `<skipped>`.
 */
export function junitXml(meta: JunitMeta, events: Timed[]): string {
  const cases = meta.kind === 'apply' ? applyCases(meta, events) : rollbackCases(meta, events);
  const first = events[0]?.ms ?? Date.now();
  const total = (events[events.length - 1]?.ms ?? first) - first;
  const count = (f: (c: Case) => unknown) => cases.filter(f).length;
  const a = (name: string, value: string | number) => ` ${name}="${escapeXml(String(value))}"`;
  const finished = events.find((e) => e.type === 'run.finished');
  const suiteName = `${meta.runbook} ${meta.kind}`;
  const counts = `${a('tests', cases.length)}${a('failures', count((c) => c.failure))}${a('errors', count((c) => c.error))}${a('skipped', count((c) => c.skipped))}${a('time', seconds(total))}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${a('name', suiteName)}${counts.replace(/ skipped="\d+"/, '')}>`,
    `  <testsuite${a('name', suiteName)}${counts}${a('timestamp', new Date(first).toISOString())}${a('hostname', meta.host)}${a('id', meta.runId)}>`,
    '    <properties>',
    `      <property${a('name', 'runbook.run')}${a('value', meta.runId)}/>`,
    `      <property${a('name', 'runbook.command')}${a('value', meta.kind)}/>`,
    ...(finished?.type === 'run.finished' ? [`      <property${a('name', 'runbook.outcome')}${a('value', finished.outcome)}/>`, `      <property${a('name', 'runbook.exitCode')}${a('value', finished.exitCode)}/>`] : []),
    '    </properties>',
  ];
  for (const c of cases) {
    const body: string[] = [];
    if (c.failure) body.push(`      <failure${a('message', c.failure.message)}${a('type', c.failure.type)}>${escapeXml(c.failure.text)}</failure>`);
    if (c.error) body.push(`      <error${a('message', c.error.message)}${a('type', 'interrupted')}>${escapeXml(c.error.text)}</error>`);
    if (c.skipped) body.push(`      <skipped${a('message', c.skipped)}/>`);
    if (c.out.length) body.push(`      <system-out>${escapeXml(c.out.join('\n'))}</system-out>`);
    const open = `    <testcase${a('name', c.name)}${a('classname', meta.runbook)}${a('time', seconds(c.ms))}`;
    lines.push(...(body.length ? [`${open}>`, ...body, '    </testcase>'] : [`${open}/>`]));
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
