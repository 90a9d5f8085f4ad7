import type { JournalEvent, StepFailure } from '../../model/events.js';
import { riskBand } from '../../plan/resolve.js';
import { escapeXml as esc } from '../text/xml.js';
import { sessions, timelineSvg, type Session } from './timeline.js';

export interface HtmlReportInput {
  /** Every event of the run's journal (already redacted when it was written). */
  events: JournalEvent[];
  environment: string;
  /** When the report was made (ISO). */
  generatedAt: string;
  torn?: boolean;
}

const STYLE = `
:root{--ink:#1d2430;--muted:#5b6575;--line:#d9dee7;--apply:#3b82f6;--verify:#16a34a;--rollback:#f59e0b;--failed:#dc2626;--bg:#fff}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg);margin:0;padding:24px 32px;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.muted{color:var(--muted)}.outcome{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;margin:6px 0}
.outcome.applied,.outcome.rolled-back{background:#e7f6ec;color:#166534}.outcome.rolled-back{background:#fff4e0;color:#92400e}.outcome.rollback-failed,.outcome.interrupted,.outcome.stopped,.outcome.preflight-failed{background:#fde8e8;color:#991b1b}
dl.who{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dl.who dt{color:var(--muted)}dl.who dd{margin:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f5f9;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}.band-green{color:#166534}.band-yellow{color:#854d0e}.band-orange{color:#c2410c}.band-red{color:#b91c1c}
.st-failed,.st-rollback-failed{color:var(--failed);font-weight:600}.st-rolled-back{color:#92400e}.st-verified,.st-applied{color:#166534}
pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:6px;overflow-x:auto;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-word}
.failure{border-left:4px solid var(--failed);padding:2px 0 2px 12px;margin:10px 0}
svg.timeline{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fbfcfe}
svg .axis{font-size:11px;fill:var(--muted);text-anchor:middle}svg .tick{stroke:#e6e9ef}svg .row{font-size:12px;fill:var(--ink)}svg .band{fill:#f3f5f9}
svg .bar.apply{fill:var(--apply)}svg .bar.verify{fill:var(--verify)}svg .bar.rollback{fill:var(--rollback)}svg .bar.preflight,svg .bar.checkpoint,svg .bar.watch{fill:#94a3b8}svg .bar.rehearse{fill:#8b5cf6}svg .bar.failed{fill:var(--failed)}
svg .bar.retry{stroke:#111;stroke-width:1.5;stroke-dasharray:3 2}svg .rollback-span{fill:#fde7c2;opacity:.55}svg .rollback-label{font-size:11px;fill:#92400e;font-weight:600}
svg .mark{font-size:11px;font-weight:600}svg .mark.failed{fill:var(--failed)}svg .mark.undone{fill:#b45309}svg .mark.ok{fill:#166534}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
`;

const fmtMs = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function failureBlock(title: string, f: StepFailure): string {
  const rows = [
    `<div class="failure"><h3>${esc(title)}</h3><dl class="who">`,
    `<dt>error</dt><dd>${esc(f.message)}</dd>`,
    ...(f.command ? [`<dt>command</dt><dd>${esc(f.command)}</dd>`] : []),
    ...(f.exitCode !== undefined && f.exitCode !== null ? [`<dt>exit code</dt><dd>${esc(String(f.exitCode))}</dd>`] : []),
    ...(f.timedOut ? ['<dt>timed out</dt><dd>yes</dd>'] : []),
    '</dl>',
    ...(f.outputTail ? [`<div class="muted">output (last lines)</div><pre>${esc(f.outputTail)}</pre>`] : []),
    '</div>',
  ];
  return rows.join('');
}

function sessionSection(s: Session, i: number): string {
  const started = s.events[0];
  const finished = s.events.find((e) => e.type === 'run.finished');
  const rb = s.events.find((e) => e.type === 'rollback.started');
  const heading = s.kind === 'apply' ? 'Apply' : `Later rollback (runbook rollback)${rb?.type === 'rollback.started' ? `, pid ${rb.pid}` : ''}`;
  const stepRows = s.events.flatMap((e) => {
    if (e.type !== 'step.finished') return [];
    const offset = Date.parse(e.at) - e.durationMs - Date.parse(started!.at);
    return [
      `<tr><td class="num">+${esc(fmtMs(Math.max(0, offset)))}</td><td>${esc(e.changeId ?? '—')}</td><td>${esc(e.phase)}</td><td>${esc(e.label)}</td><td class="num">${e.attempt}</td><td class="${e.ok ? 'st-verified' : 'st-failed'}">${e.ok ? 'ok' : `FAILED: ${esc(e.failure?.message ?? '')}`}</td><td class="num">${esc(fmtMs(e.durationMs))}</td></tr>`,
    ];
  });
  return [
    `<h2 id="session-${i}">${esc(heading)} — ${esc(started?.at ?? '')}</h2>`,
    finished?.type === 'run.finished' ? `<p>ended <span class="outcome ${esc(finished.outcome)}">${esc(finished.outcome)}</span> exit ${finished.exitCode} after ${esc(fmtMs(finished.durationMs))}${finished.remaining.length ? `; still applied: ${esc(finished.remaining.join(', '))}` : ''}</p>` : '<p class="st-failed">this part of the run never finished (the journal ends here: crash or kill)</p>',
    rb?.type === 'rollback.started' ? `<p>rollback of ${esc(rb.changeIds.join(', '))} — reason: ${esc(rb.reason)}</p>` : '',
    '<div class="legend"><span><i style="background:var(--apply)"></i>apply</span><span><i style="background:var(--verify)"></i>verify</span><span><i style="background:var(--rollback)"></i>rollback</span><span><i style="background:var(--failed)"></i>failed</span><span><i style="background:#fff;border:1.5px dashed #111"></i>retry</span><span><i style="background:#fde7c2"></i>rollback span</span></div>',
    timelineSvg(s),
    '<h3>Steps</h3><table><thead><tr><th>at</th><th>change</th><th>phase</th><th>step</th><th>attempt</th><th>result</th><th>took</th></tr></thead><tbody>',
    ...stepRows,
    '</tbody></table>',
  ].join('\n');
}

/**
 * `runbook report --html`: one self-contained page (inline CSS and SVG, no script, no external
 * asset, a CSP that forbids loading anything) of a run — who ran it where, the outcome, the
 * risk table, the timeline of each part (the apply and every later rollback), each failure with
 * its output tail, and what was undone. Built from the journal alone, whose text is redacted.
 */
export function renderHtmlReport(input: HtmlReportInput): string {
  const events = input.events;
  const start = events.find((e) => e.type === 'run.started');
  const runId = start?.type === 'run.started' ? start.runId : '?';
  const name = start?.type === 'run.started' ? start.runbook : 'runbook';
  const changes = start?.type === 'run.started' ? start.changes : [];
  const finishes = events.filter((e) => e.type === 'run.finished');
  const last = finishes[finishes.length - 1];
  const statusOf = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'change.started') statusOf.set(e.changeId, 'applying');
    if (e.type === 'change.applied') statusOf.set(e.changeId, 'applied');
    if (e.type === 'change.verified') statusOf.set(e.changeId, 'verified');
    if (e.type === 'change.failed') statusOf.set(e.changeId, 'failed');
    if (e.type === 'change.rolledBack') statusOf.set(e.changeId, e.ok ? 'rolled-back' : 'rollback-failed');
  }
  const sum = changes.reduce((s, c) => s + c.risk, 0);
  const max = changes.length * 10;
  const percent = max ? Math.round((sum / max) * 1000) / 10 : 0;
  const riskRows = changes.map((c, i) => {
    const band = riskBand(c.risk);
    const status = statusOf.get(c.id) ?? 'not run';
    return `<tr><td class="num">${i + 1}</td><td><b>${esc(c.id)}</b><br>${esc(c.title)}</td><td class="band-${band}">${c.risk}/10 ${band}</td><td class="st-${esc(status)}">${esc(status)}</td></tr>`;
  });
  const failures = events.flatMap((e, i) => {
    if (e.type === 'change.failed') {
      const step = [...events.slice(0, i)].reverse().find((s) => s.type === 'step.finished' && !s.ok && s.changeId === e.changeId);
      const label = step?.type === 'step.finished' ? `${step.phase} step ${step.index + 1} "${step.label}"` : e.phase;
      return [failureBlock(`${e.changeId}: ${label} failed`, e.failure)];
    }
    if (e.type === 'change.rolledBack' && !e.ok && e.failure) return [failureBlock(`${e.changeId}: rollback failed`, e.failure)];
    if (e.type === 'preflight.finished' && !e.ok) return [`<div class="failure"><h3>preflight failed: nothing was changed</h3><pre>${esc(e.failures.join('\n'))}</pre></div>`];
    return [];
  });
  const undone = events.flatMap((e) => {
    if (e.type === 'change.rolledBack') return [`<li class="${e.ok ? 'st-rolled-back' : 'st-failed'}">${esc(e.at)} — ${esc(e.changeId)} ${e.ok ? 'rolled back' : 'ROLLBACK FAILED'} (${esc(fmtMs(e.durationMs))})</li>`];
    if (e.type === 'checkpoint.undone') return [`<li>${esc(e.at)} — git checkpoint ${e.restored ? `taken back in ${esc(e.dir)}` : `left in place: ${esc(e.reason ?? '')}${e.finish ? ` — to finish: ${esc(e.finish)}` : ''}`}</li>`];
    return [];
  });
  const who =
    start?.type === 'run.started'
      ? [
          ['run', start.runId],
          ['runbook', `${start.runbook} (${start.file})`],
          ['environment', input.environment],
          ['ran by', `${start.user}@${start.host}, pid ${start.pid}`],
          ['started', start.at],
          ...(start.dryRun ? [['dry run', 'yes']] : []),
        ]
      : [['run', runId]];
  const body = [
    `<h1>${esc(name)} — run ${esc(runId)}</h1>`,
    last?.type === 'run.finished' ? `<div>outcome: <span class="outcome ${esc(last.outcome)}">${esc(last.outcome)}</span> exit ${last.exitCode}${last.remaining.length ? ` — still applied: ${esc(last.remaining.join(', '))}` : ' — nothing of the run is left applied'}</div>` : '<div class="outcome interrupted">unfinished: the journal ends without run.finished</div>',
    `<dl class="who">${who.map(([k, v]) => `<dt>${esc(k!)}</dt><dd>${esc(v!)}</dd>`).join('')}</dl>`,
    input.torn ? '<p class="st-failed">the journal ends in a torn line (a crash while writing it); it was ignored</p>' : '',
    '<h2>Risk</h2>',
    `<table><thead><tr><th>№</th><th>change</th><th>risk</th><th>status now</th></tr></thead><tbody>${riskRows.join('')}</tbody></table>`,
    `<p>Total risk: ${sum}/${max} = ${percent}% (${riskBand(Math.round(percent / 10))})</p>`,
    ...sessions(events).map(sessionSection),
    '<h2>Failures</h2>',
    failures.length ? failures.join('\n') : '<p>none</p>',
    '<h2>What was undone</h2>',
    undone.length ? `<ul>${undone.join('')}</ul>` : '<p>nothing was rolled back</p>',
    `<p class="muted">report made ${esc(input.generatedAt)} by runbook from the run's journal; secrets were redacted when the journal was written.</p>`,
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(name)} — run ${esc(runId)}</title>
<style>${STYLE}</style></head>
<body>
${body.filter(Boolean).join('\n')}
</body></html>
`;
}
