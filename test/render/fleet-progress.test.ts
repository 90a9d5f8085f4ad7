/**
 * The rollout's live progress on a terminal, as the operator sees it: the fleet renderer draws
 * into a fake terminal of a real size while it is sent the events a rollout emits (canary host-1,
 * then [host-2, host-3], then [host-4]), and the test reads the screen drawn last.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../src/model/events.js';
import { loadPlan } from '../../src/plan/load-plan.js';
import { fleetListrRenderer } from '../../src/render/progress/listr-fleet.js';
import { fakeTerminal } from '../support/fake-terminal.js';

const RUNBOOK = `runbook: 1
name: fleet-progress
hosts:
  web:
    host-1: { address: 127.0.0.236 }
    host-2: { address: 127.0.0.237 }
    host-3: { address: 127.0.0.238 }
    host-4: { address: 127.0.0.239 }
rollout: { canary: 1, batch: 2, maxFailures: 0 }
changes:
  - id: motd
    title: A message of the day
    on: web
    risk: 1
    apply:
      - { name: prepare the directory, run: "mkdir -p /srv/app" }
      - { name: write the motd file, run: "echo hello > /srv/app/motd" }
      - { name: reload the app, run: "true" }
    verify:
      - { name: the motd is there, run: "grep -q hello /srv/app/motd" }
    rollback:
      - { name: remove the motd, run: "rm -f /srv/app/motd" }
  - id: cron
    title: A nightly job
    on: web
    risk: 1
    apply:
      - { name: install the job, run: "true" }
    verify:
      - { name: the job is listed, run: "true", retries: 2 }
    rollback:
      - { name: remove the job, run: "true" }
`;

/** Two frames of the renderer (it draws at most once every 100 ms). */
const frames = () => new Promise((r) => setTimeout(r, 250));

let dir: string;
let columns: number | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-progress-'));
  columns = process.stdout.columns;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  Object.defineProperty(process.stdout, 'columns', { value: columns, configurable: true, writable: true });
});

/** A terminal `width` columns wide; `screen()` is what it shows now. */
async function rollout(width = 120, runbook = RUNBOOK) {
  // listr2 wraps its lines at the width of the process's stdout; the CLI draws into that one.
  Object.defineProperty(process.stdout, 'columns', { value: width, configurable: true, writable: true });
  const { stream, writes } = fakeTerminal(width);
  const file = join(dir, 'fleet.yaml');
  writeFileSync(file, runbook);
  const plan = await loadPlan(file);
  const render = fleetListrRenderer(plan, { verbose: false, output: stream });
  const label = (changeId: string, phase: 'apply' | 'verify', index: number) => plan.changes.find((c) => c.change.id === changeId)![phase][index]!.label;
  const step = (host: string, changeId: string, phase: 'apply' | 'verify', index: number, ok = true, attempt = 1) => {
    const at = { phase, changeId, index, label: label(changeId, phase, index), host };
    void render({ type: 'step.started', ...at, attempt });
    void render({ type: 'step.finished', ...at, attempt, ok, durationMs: 5, ...(ok ? {} : { failure: { message: 'command exited with code 1' } }) });
  };
  return {
    render,
    send: (e: EngineEvent) => void render(e),
    started: (host: string, changeId: string, batch: number) =>
      void render({ type: 'change.started', changeId, number: changeId === 'motd' ? 1 : 2, title: changeId, checksum: 'x', rollback: null, host, batch }),
    stepStarted: (host: string, changeId: string, phase: 'apply' | 'verify', index: number) =>
      void render({ type: 'step.started', phase, changeId, index, label: label(changeId, phase, index), host, attempt: 1 }),
    step,
    /** Both changes applied and verified on `host`. */
    allOf: (host: string, batch: number) => {
      for (const [changeId, apply, verify] of [['motd', 3, 1], ['cron', 1, 1]] as const) {
        void render({ type: 'change.started', changeId, number: changeId === 'motd' ? 1 : 2, title: changeId, checksum: 'x', rollback: null, host, batch });
        for (let i = 0; i < apply; i++) step(host, changeId, 'apply', i);
        for (let i = 0; i < verify; i++) step(host, changeId, 'verify', i);
        void render({ type: 'change.verified', changeId, durationMs: 20, verifySteps: verify, host });
      }
    },
    finish: async (outcome: 'applied' | 'rolled-back', exitCode: number) => {
      await render({ type: 'run.finished', outcome, exitCode, remaining: [], durationMs: 100 });
      await render.finished;
    },
    screen: () => writes.map((w) => stripVTControlCharacters(w)).filter((w) => w.trim()).at(-1) ?? '',
    all: () => stripVTControlCharacters(writes.join('')),
  };
}

/** The line after the one naming `host` (its row's progress). */
const rowOf = (screen: string, host: string) => {
  const lines = screen.split('\n');
  const at = lines.findIndex((l) => new RegExp(`^\\s*\\S ${host}$`).test(l));
  return at < 0 ? undefined : lines[at + 1]?.trim();
};

describe('fleet progress on a terminal', () => {
  it("shows the canary host's first apply step while it runs, with its step counter, and says the canary runs", async () => {
    const r = await rollout();
    r.send({ type: 'preflight.finished', ok: true, failures: [] });
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.started('host-1', 'motd', 1);
    r.stepStarted('host-1', 'motd', 'apply', 0);
    await frames();
    const screen = r.screen();
    expect(screen).toMatch(/Rollout: batch 1\/3 \(canary\) · 0\/4 hosts done · 0 failed/);
    expect(rowOf(screen, 'host-1')).toBe('› ✔ 0/6  ▸ motd: prepare the directory');
    await r.finish('applied', 0);
  });

  it("shows each host's running step and counter in a batch, the finished batch collapsed to one line", async () => {
    const r = await rollout();
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.allOf('host-1', 1);
    r.send({ type: 'batch.started', batch: 2, of: 3, hosts: ['host-2', 'host-3'] });
    r.started('host-2', 'motd', 2);
    r.started('host-3', 'motd', 2);
    r.step('host-2', 'motd', 'apply', 0);
    r.stepStarted('host-2', 'motd', 'apply', 1);
    r.stepStarted('host-3', 'motd', 'apply', 0);
    await frames();
    const screen = r.screen();
    expect(screen).toMatch(/Rollout: batch 2\/3 · 1\/4 hosts done · 0 failed/);
    expect(screen).toMatch(/✔ batch 1\/3 \(canary\): host-1\n/);
    expect(screen).not.toMatch(/host-1 —/);
    expect(rowOf(screen, 'host-2')).toBe('› ✔ 1/6  ▸ motd: write the motd file');
    expect(rowOf(screen, 'host-3')).toBe('› ✔ 0/6  ▸ motd: prepare the directory');
    expect(screen).toMatch(/◼ batch 3\/3: host-4/);
    await r.finish('applied', 0);
  });

  it('shows a failed attempt under the host, the failed host with its reason, and the rollback while it runs', async () => {
    const r = await rollout();
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.allOf('host-1', 1);
    r.send({ type: 'batch.started', batch: 2, of: 3, hosts: ['host-2', 'host-3'] });
    r.allOf('host-2', 2);
    r.started('host-3', 'motd', 2);
    r.step('host-3', 'motd', 'apply', 0);
    r.step('host-3', 'motd', 'apply', 1);
    r.step('host-3', 'motd', 'apply', 2);
    r.step('host-3', 'motd', 'verify', 0, false);
    await frames();
    expect(r.screen()).toMatch(/✖ verify: the motd is there: attempt 1 failed: command exited with code 1/);
    const failure = { message: 'command exited with code 1' };
    r.send({ type: 'change.failed', changeId: 'motd', phase: 'verify', failure, host: 'host-3' });
    r.send({ type: 'host.failed', host: 'host-3', reason: 'motd failed in verify: command exited with code 1', changeId: 'motd' });
    // The run's rollback: batch 2's hosts in parallel, then the canary.
    r.send({ type: 'rollback.started', changeIds: ['cron@host-2', 'motd@host-2'], reason: 'change motd on host-3 failed in verify', pid: 1, host: 'host-2' });
    r.send({ type: 'rollback.started', changeIds: ['motd@host-3'], reason: 'change motd on host-3 failed in verify', pid: 1, host: 'host-3' });
    r.send({ type: 'change.rolledBack', changeId: 'cron', ok: true, durationMs: 5, host: 'host-2' });
    r.send({ type: 'step.started', phase: 'rollback', changeId: 'motd', index: 0, label: 'remove the motd', host: 'host-2', attempt: 1 });
    await frames();
    const during = r.screen();
    expect(during).toMatch(/✖ Rollout stopped: host-3 failed · 2\/4 hosts done · 1 failed/);
    expect(during).toMatch(/✖ host-3 — motd failed in verify: command exited with code 1/);
    expect(during).toMatch(/batch 3\/3: host-4 \(not run\)/);
    expect(during).toMatch(/Rollback\n.*↩ 1\/3 undone {2}▸ host-2: motd: remove the motd/);
    r.send({ type: 'change.rolledBack', changeId: 'motd', ok: true, durationMs: 5, host: 'host-2' });
    r.send({ type: 'change.rolledBack', changeId: 'motd', ok: true, durationMs: 5, host: 'host-3' });
    r.send({ type: 'rollback.started', changeIds: ['cron@host-1', 'motd@host-1'], reason: 'change motd on host-3 failed in verify', pid: 1, host: 'host-1' });
    r.send({ type: 'change.rolledBack', changeId: 'cron', ok: true, durationMs: 5, host: 'host-1' });
    r.send({ type: 'change.rolledBack', changeId: 'motd', ok: true, durationMs: 5, host: 'host-1' });
    await r.finish('rolled-back', 1);
    expect(r.screen()).toMatch(/✔ Rollback — 5 changes undone/);
  });

  it('rolls back a host that failed within maxFailures in its own row, and the rollout goes on', async () => {
    const r = await rollout(120, RUNBOOK.replace('maxFailures: 0', 'maxFailures: 1'));
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.started('host-1', 'motd', 1);
    r.step('host-1', 'motd', 'apply', 0);
    r.step('host-1', 'motd', 'apply', 1, false);
    r.send({ type: 'change.failed', changeId: 'motd', phase: 'apply', failure: { message: 'command exited with code 1' }, host: 'host-1' });
    r.send({ type: 'host.failed', host: 'host-1', reason: 'motd failed in apply: command exited with code 1', changeId: 'motd' });
    r.send({ type: 'rollback.started', changeIds: ['motd@host-1'], reason: 'host host-1 failed (…); within maxFailures 1, the rollout goes on', pid: 1, host: 'host-1' });
    r.send({ type: 'step.started', phase: 'rollback', changeId: 'motd', index: 0, label: 'remove the motd', host: 'host-1', attempt: 1 });
    await frames();
    expect(rowOf(r.screen(), 'host-1')).toMatch(/^› ✔ 1\/6 {2}▸ ↩ motd: remove the motd$/);
    r.send({ type: 'change.rolledBack', changeId: 'motd', ok: true, durationMs: 5, host: 'host-1' });
    r.send({ type: 'batch.started', batch: 2, of: 3, hosts: ['host-2', 'host-3'] });
    r.started('host-2', 'motd', 2);
    r.stepStarted('host-2', 'motd', 'apply', 0);
    await frames();
    const screen = r.screen();
    expect(screen).toMatch(/✖ host-1 — motd failed in apply: command exited with code 1; rolled back/);
    expect(screen).toMatch(/Rollout: batch 2\/3 · 0\/4 hosts done · 1 failed/);
    expect(rowOf(screen, 'host-2')).toBe('› ✔ 0/6  ▸ motd: prepare the directory');
    await r.finish('applied', 1);
  });

  it('goes on after a finished host fails during the pause within maxFailures: its rollback does not end the rollout', async () => {
    const r = await rollout(120, RUNBOOK.replace('maxFailures: 0', 'maxFailures: 1'));
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.allOf('host-1', 1);
    r.send({ type: 'change.failed', changeId: 'motd', phase: 'watch', failure: { message: 'command exited with code 1' }, host: 'host-1' });
    r.send({ type: 'host.failed', host: 'host-1', reason: 'motd failed its verify during the pause: command exited with code 1', changeId: 'motd' });
    r.send({ type: 'rollback.started', changeIds: ['cron@host-1', 'motd@host-1'], reason: 'host host-1 failed (…); within maxFailures 1, the rollout goes on', pid: 1, host: 'host-1' });
    r.send({ type: 'change.rolledBack', changeId: 'cron', ok: true, durationMs: 5, host: 'host-1' });
    r.send({ type: 'change.rolledBack', changeId: 'motd', ok: true, durationMs: 5, host: 'host-1' });
    r.send({ type: 'batch.started', batch: 2, of: 3, hosts: ['host-2', 'host-3'] });
    r.started('host-2', 'motd', 2);
    r.stepStarted('host-2', 'motd', 'apply', 0);
    await frames();
    const screen = r.screen();
    expect(screen).toMatch(/❯ Rollout: batch 2\/3 · 0\/4 hosts done · 1 failed\n/);
    expect(rowOf(screen, 'host-2')).toBe('› ✔ 0/6  ▸ motd: prepare the directory');
    expect(screen).not.toContain('not run');
    await r.finish('applied', 1);
    expect(r.screen()).toMatch(/✔ Rollback — 2 changes undone/);
  });

  it('says the rollout pauses once a batch is done, before the next one starts', async () => {
    const r = await rollout(120, RUNBOOK.replace('maxFailures: 0 }', 'maxFailures: 0, pause: 30s }'));
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.allOf('host-1', 1);
    await frames();
    expect(r.screen()).toMatch(/Rollout: batch 1\/3 \(canary\) · 1\/4 hosts done · 0 failed · pause 30.0s before batch 2/);
    r.send({ type: 'batch.started', batch: 2, of: 3, hosts: ['host-2', 'host-3'] });
    await frames();
    expect(r.screen()).toMatch(/Rollout: batch 2\/3 · 1\/4 hosts done · 0 failed\n/);
    await r.finish('applied', 0);
  });

  it('draws one rollout per run of changes on hosts, each named, with the change on this machine between them', async () => {
    const between = `  - id: note
    title: A note on this machine
    risk: 0
    apply: [{ name: write the note, run: "true" }]
    rollback: [{ run: "true" }]
`;
    const r = await rollout(120, RUNBOOK.replace('  - id: cron', `${between}  - id: cron`));
    for (const [i, hosts] of [['host-1'], ['host-2', 'host-3'], ['host-4']].entries()) {
      r.send({ type: 'batch.started', batch: i + 1, of: 3, hosts });
      for (const host of hosts) {
        r.started(host, 'motd', i + 1);
        for (let s = 0; s < 3; s++) r.step(host, 'motd', 'apply', s);
        r.step(host, 'motd', 'verify', 0);
        r.send({ type: 'change.verified', changeId: 'motd', durationMs: 20, verifySteps: 1, host });
      }
    }
    r.send({ type: 'change.started', changeId: 'note', number: 2, title: 'A note on this machine', checksum: 'x', rollback: null });
    r.send({ type: 'step.started', phase: 'apply', changeId: 'note', index: 0, label: 'write the note', attempt: 1 });
    await frames();
    let screen = r.screen();
    expect(screen).toMatch(/✔ Rollout \(motd\): batch 3\/3 · 4\/4 hosts done · 0 failed\n/);
    expect(screen).toMatch(/A note on this machine \[risk 0\/10\]\n +› ✔ 0\/1 {2}▸ note: write the note\n/);
    expect(screen).toMatch(/◼ Rollout \(cron\): 3 batches, the canary first · 0\/4 hosts done · 0 failed/);
    r.send({ type: 'change.verified', changeId: 'note', durationMs: 20, verifySteps: 0 });
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.started('host-1', 'cron', 1);
    r.stepStarted('host-1', 'cron', 'apply', 0);
    await frames();
    screen = r.screen();
    expect(screen).toMatch(/Rollout \(cron\): batch 1\/3 \(canary\) · 0\/4 hosts done · 0 failed/);
    expect(rowOf(screen, 'host-1')).toBe('› ✔ 0/2  ▸ cron: install the job');
    await r.finish('applied', 0);
  });

  it('fits a terminal 40 columns wide', async () => {
    const r = await rollout(40);
    r.send({ type: 'batch.started', batch: 1, of: 3, hosts: ['host-1'] });
    r.started('host-1', 'motd', 1);
    r.stepStarted('host-1', 'motd', 'apply', 1);
    await frames();
    expect(r.screen()).toMatch(/batch 1\/3 \(canary\)/);
    // Wrapped where it is too long, not cut: the step's whole label is there.
    expect(r.screen().replace(/\n +/g, ' ')).toContain('› ✔ 0/6  ▸ motd: write the motd file');
    r.allOf('host-1', 1);
    await r.finish('applied', 0);
    for (const line of r.all().split('\n')) expect(line.length).toBeLessThanOrEqual(40);
  });
});
