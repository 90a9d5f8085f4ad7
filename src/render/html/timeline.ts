import type { JournalEvent } from '../../model/events.js';
import { escapeXml as esc } from '../text/xml.js';

/** One stretch of a run's journal: the apply (with its own rollback), or a later `runbook rollback`. */
export interface Session {
  kind: 'apply' | 'rollback';
  events: JournalEvent[];
}

/** Splits a run's journal into the apply and each later `runbook rollback` (each ends with its run.finished, or where the next begins). */
export function sessions(events: JournalEvent[]): Session[] {
  const out: Session[] = [];
  let open: Session | undefined;
  for (const e of events) {
    // A `runbook rollback` starts a part of its own even after an apply that never finished (a crash).
    const laterRollback = e.type === 'rollback.started' && e.reason === 'runbook rollback' && open?.kind === 'apply';
    if (!open || e.type === 'run.started' || laterRollback) {
      open = { kind: e.type === 'run.started' ? 'apply' : 'rollback', events: [] };
      out.push(open);
    }
    open.events.push(e);
    if (e.type === 'run.finished') open = undefined;
  }
  return out;
}

const time = (e: JournalEvent) => Date.parse(e.at);

/** A round step for the axis: 1, 2 or 5 × 10^k ms, about `count` ticks over `span`. */
function tickStep(span: number, count = 8): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? power * 10;
}

const fmt = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s` : `${(ms / 60_000).toFixed(1)} min`);

interface Bar {
  row: string;
  start: number;
  end: number;
  cls: string;
  title: string;
}

/**
 * The session's timeline as inline SVG: one row per change (and preflight, checkpoint), each
 * step a bar from its start to its end on a shared time axis (apply, verify, rollback, failed;
 * a retry is a bar of its own), markers where a change failed or was rolled back, and the
 * rollback's span shaded.
 */
export function timelineSvg(session: Session): string {
  const events = session.events;
  if (events.length === 0) return '';
  const t0 = Math.min(...events.map((e) => time(e) - (e.type === 'step.finished' ? e.durationMs : 0)));
  const t1 = Math.max(...events.map(time));
  const span = Math.max(t1 - t0, 1);
  const rows: string[] = [];
  const rowOf = (key: string) => {
    if (!rows.includes(key)) rows.push(key);
    return key;
  };
  const bars: Bar[] = [];
  const marks: { row: string; at: number; cls: string; text: string }[] = [];
  let rollbackFrom: number | undefined;
  let rollbackTo: number | undefined;
  const titles = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'change.started') titles.set(e.changeId, `${e.number}. ${e.changeId}`);
    if (e.type === 'step.finished') {
      const row = rowOf(e.changeId ?? e.phase);
      const cls = !e.ok ? 'failed' : e.phase;
      const what = `${e.phase} step ${e.index + 1}: ${e.label}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''} — ${e.ok ? 'ok' : `FAILED: ${e.failure?.message ?? ''}`} in ${fmt(e.durationMs)}`;
      bars.push({ row, start: time(e) - e.durationMs, end: time(e), cls: `${cls}${e.attempt > 1 ? ' retry' : ''}`, title: what });
    }
    if (e.type === 'checkpoint.taken') marks.push({ row: rowOf('checkpoint'), at: time(e), cls: 'ok', text: `checkpoint ${e.commit.slice(0, 10)}` });
    if (e.type === 'change.failed') marks.push({ row: rowOf(e.changeId), at: time(e), cls: 'failed', text: `✖ ${e.phase} failed` });
    if (e.type === 'change.rolledBack') marks.push({ row: rowOf(e.changeId), at: time(e), cls: e.ok ? 'undone' : 'failed', text: e.ok ? '↩ rolled back' : '✖ rollback failed' });
    if (e.type === 'change.verified') marks.push({ row: rowOf(e.changeId), at: time(e), cls: 'ok', text: '✔ verified' });
    if (e.type === 'rehearsal.finished') marks.push({ row: rowOf(e.changeId), at: time(e), cls: e.result === 'failed' ? 'failed' : 'ok', text: `↻ rehearsal ${e.result}` });
    // A rehearsal's rollback is part of the change's row, not the run's rollback.
    if (e.type === 'rollback.started' && !e.reason.startsWith('rehearsal of ')) rollbackFrom ??= time(e);
    if ((e.type === 'change.rolledBack' || e.type === 'run.finished') && rollbackFrom !== undefined) rollbackTo = time(e);
  }
  const label = 230;
  const width = 1000;
  const rowH = 30;
  const top = 44;
  const height = top + rows.length * rowH + 10;
  const x = (t: number) => label + ((t - t0) / span) * (width - label - 230);
  const y = (row: string) => top + rows.indexOf(row) * rowH;
  const parts: string[] = [];
  if (rollbackFrom !== undefined) {
    const end = rollbackTo ?? t1;
    parts.push(`<rect class="rollback-span" x="${x(rollbackFrom).toFixed(1)}" y="${top - 6}" width="${Math.max(2, x(end) - x(rollbackFrom)).toFixed(1)}" height="${rows.length * rowH + 6}"><title>rollback: ${esc(fmt(end - rollbackFrom))}</title></rect>`);
    parts.push(`<text class="rollback-label" x="${(x(rollbackFrom) + 4).toFixed(1)}" y="${top - 12}">rollback</text>`);
  }
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    parts.push(`<line class="tick" x1="${x(t0 + t).toFixed(1)}" x2="${x(t0 + t).toFixed(1)}" y1="${top - 4}" y2="${height - 6}"/>`);
    parts.push(`<text class="axis" x="${x(t0 + t).toFixed(1)}" y="14">${esc(fmt(t))}</text>`);
  }
  rows.forEach((row, i) => {
    if (i % 2 === 1) parts.push(`<rect class="band" x="0" y="${y(row) - 4}" width="${width}" height="${rowH}"/>`);
    parts.push(`<text class="row" x="6" y="${y(row) + 15}">${esc(titles.get(row) ?? row)}</text>`);
  });
  for (const b of bars) {
    const w = Math.max(3, x(b.end) - x(b.start));
    parts.push(`<rect class="bar ${b.cls}" x="${x(b.start).toFixed(1)}" y="${y(b.row)}" width="${w.toFixed(1)}" height="20" rx="3"><title>${esc(b.title)}</title></rect>`);
  }
  // A mark starts after the previous one of its row ends (about 6.5 px per character): they never overlap.
  const freeFrom = new Map<string, number>();
  for (const m of marks.sort((a, b) => a.at - b.at)) {
    const at = Math.max(x(m.at) + 5, freeFrom.get(m.row) ?? 0);
    freeFrom.set(m.row, at + m.text.length * 6.5 + 8);
    parts.push(`<text class="mark ${m.cls}" x="${at.toFixed(1)}" y="${y(m.row) + 15}">${esc(m.text)}</text>`);
  }
  return `<svg class="timeline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="timeline">${parts.join('')}</svg>`;
}
