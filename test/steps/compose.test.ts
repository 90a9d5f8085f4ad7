import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { composeStep, type ComposeParams } from '../../src/steps/compose.js';
import { StepFailedError } from '../../src/steps/contract.js';
import { failure, stepCtx } from '../support/step-context.js';

// Unit tests with a RECORDING STAND-IN: a small bash script named `docker` (or `docker-compose`),
// in a temp dir put first on PATH through ctx.env.PATH, that writes the argv it was called with
// (and its cwd) to a file and behaves as each test needs. They check what the step asks compose
// to do, which compose it picks, and how it reports failures. The step against the real Docker
// engine (docker-compose v1, the daemon down, an unknown service) is in
// test/e2e/phase1-compose.test.ts.

const root = mkdtempSync(join(tmpdir(), 'runbook-steps-compose-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/**
 * A project dir and a bin dir whose `docker` runs `body` after recording its call. It has the
 * compose plugin (answers `docker compose version`) unless `plugin` is false.
 */
function standIn(body = 'echo "done"', { plugin = true } = {}): { project: string; bin: string; calls: string; env: NodeJS.ProcessEnv } {
  const base = join(root, `case${++n}`);
  const project = join(base, 'project');
  const bin = join(base, 'bin');
  mkdirSync(project, { recursive: true });
  mkdirSync(bin);
  writeFileSync(join(project, 'compose.yaml'), 'services:\n  api: { image: busybox }\n  worker: { image: busybox }\n');
  const calls = join(base, 'docker.calls');
  const version = plugin ? 'if [ "$*" = "compose version" ]; then echo "Docker Compose version v2.20.2"; exit 0; fi\n' : '';
  writeFileSync(join(bin, 'docker'), `#!/bin/bash\n{ echo "cwd=$PWD"; for a in "$@"; do echo "arg=$a"; done; echo "--"; } >> ${calls}\n${version}${body}\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  return { project, bin, calls, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } };
}

/** Each recorded call: its cwd and argv (without `auto`'s probe, `compose version`, unless asked). */
function recorded(calls: string, { probes = false } = {}): { cwd: string; argv: string[] }[] {
  if (!existsSync(calls)) return [];
  return readFileSync(calls, 'utf8')
    .split('--\n')
    .filter(Boolean)
    .map((block) => {
      const lines = block.split('\n').filter(Boolean);
      return { cwd: lines[0]!.replace(/^cwd=/, ''), argv: lines.slice(1).map((l) => l.replace(/^arg=/, '')) };
    })
    .filter((call) => probes || call.argv.join(' ') !== 'compose version');
}

const params = (raw: Partial<ComposeParams>): ComposeParams => composeStep.normalize!(raw);

describe('compose step: what it asks docker to do', () => {
  it('restart names the services and runs in the project dir', async () => {
    const s = standIn();
    const r = await composeStep.run(params({ action: 'restart', services: ['api', 'worker'], dir: s.project }), stepCtx(root, { env: s.env }));
    expect(r.detail).toBe('done');
    expect(recorded(s.calls)).toEqual([{ cwd: s.project, argv: ['compose', 'restart', 'api', 'worker'] }]);
  });

  it('build, with a compose file and a project name', async () => {
    const s = standIn();
    await composeStep.run(params({ action: 'build', services: ['api'], dir: s.project, file: 'compose.prod.yaml', project: 'shop' }), stepCtx(root, { env: s.env }));
    expect(recorded(s.calls)[0]!.argv).toEqual(['compose', '-f', 'compose.prod.yaml', '-p', 'shop', 'build', 'api']);
  });

  it('up runs detached; without services it means all of them', async () => {
    const s = standIn();
    await composeStep.run(params({ action: 'up', dir: s.project }), stepCtx(root, { env: s.env }));
    expect(recorded(s.calls)[0]!.argv).toEqual(['compose', 'up', '-d']);
  });

  it('up with recreate forces new containers (--force-recreate)', async () => {
    const s = standIn();
    await composeStep.run(params({ action: 'up', services: ['api'], dir: s.project, recreate: true }), stepCtx(root, { env: s.env }));
    expect(recorded(s.calls)[0]!.argv).toEqual(['compose', 'up', '-d', '--force-recreate', 'api']);
  });

  it('logs asks for the last lines without colour and passes the output on', async () => {
    const s = standIn('printf "api-1  | started\\napi-1  | listening on 8080\\n"');
    const ctx = stepCtx(root, { env: s.env });
    const r = await composeStep.run(params({ action: 'logs', services: ['api'], dir: s.project, tail: 200 }), ctx);
    expect(recorded(s.calls)[0]!.argv).toEqual(['compose', 'logs', '--no-color', '--tail', '200', 'api']);
    expect(ctx.out.join('')).toContain('api-1  | listening on 8080');
    expect(r.detail).toBe('2 lines');
    const d = standIn('true');
    await composeStep.run(params({ action: 'logs', dir: d.project }), stepCtx(root, { env: d.env }));
    expect(recorded(d.calls)[0]!.argv).toEqual(['compose', 'logs', '--no-color', '--tail', '50']);
  });

  it('a relative dir is taken from the step cwd (the default is the cwd itself)', async () => {
    const s = standIn();
    await composeStep.run(params({ action: 'restart', services: ['api'] }), stepCtx(s.project, { env: s.env }));
    expect(recorded(s.calls)[0]!.cwd).toBe(s.project);
  });

  it('logs is a check, the others are actions', () => {
    const kind = composeStep.kind as (p: ComposeParams) => string;
    expect(kind(params({ action: 'logs' }))).toBe('check');
    expect(kind(params({ action: 'restart' }))).toBe('action');
    expect(composeStep.describe(params({ action: 'up', services: ['api'], project: 'shop' }))).toBe('docker compose -p shop up -d api');
  });
});

describe('compose step: when docker cannot do it', () => {
  it('says "docker is not installed" when PATH has no docker (the runbook named docker compose)', async () => {
    const empty = join(root, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const e = await failure(composeStep.run(params({ action: 'restart', services: ['api'], dir: root, cli: 'docker compose' }), stepCtx(root, { env: { ...process.env, PATH: empty } })));
    expect(e.message).toBe('docker is not installed (not on PATH)');
    expect(e.command).toBe('docker compose restart api');
  });

  it('says neither compose is installed when PATH has neither docker nor docker-compose (auto)', async () => {
    const empty = join(root, 'empty-bin-auto');
    mkdirSync(empty, { recursive: true });
    const e = await failure(composeStep.run(params({ action: 'restart', services: ['api'], dir: root }), stepCtx(root, { env: { ...process.env, PATH: empty } })));
    expect(e.message).toBe('neither docker compose (the v2 plugin) nor docker-compose (v1) is installed');
  });

  it('permission denied on the socket and an unknown service are one line each', async () => {
    const denied = standIn(
      'echo "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: dial unix /var/run/docker.sock: connect: permission denied" >&2; exit 1',
    );
    const e = await failure(composeStep.run(params({ action: 'restart', services: ['api'], dir: denied.project, cli: 'docker compose' }), stepCtx(root, { env: denied.env })));
    expect(e.message).toBe('permission denied on the Docker socket (run as a member of the docker group, or as root)');
    const unknown = standIn('echo "no such service: nope" >&2; exit 1');
    const u = await failure(composeStep.run(params({ action: 'restart', services: ['nope'], dir: unknown.project, cli: 'docker compose' }), stepCtx(root, { env: unknown.env })));
    expect(u.message).toBe('the compose project has no service "nope"');
  });

  it('says "the Docker engine is not running" when docker cannot reach the daemon', async () => {
    const s = standIn('echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    const e = await failure(composeStep.run(params({ action: 'restart', services: ['api'], dir: s.project }), stepCtx(root, { env: s.env })));
    expect(e.message).toBe('the Docker engine is not running (cannot connect to the Docker daemon)');
    expect(e.exitCode).toBe(1);
    expect(e.outputTail).toContain('Cannot connect to the Docker daemon');
    expect(e.command).toBe('docker compose restart api');
  });

  it('any other failure gives the action, the exit code and the output tail', async () => {
    const s = standIn('echo "service \\"nope\\" has no build section" >&2; exit 17');
    const e = await failure(composeStep.run(params({ action: 'build', services: ['nope'], dir: s.project }), stepCtx(root, { env: s.env })));
    expect(e.message).toBe('docker compose build exited with code 17');
    expect(e.exitCode).toBe(17);
    expect(e.outputTail).toBe('service "nope" has no build section');
    expect(e.command).toBe('docker compose build nope');
  });

  it('a timeout stops docker and everything it started (the whole process group), promptly', async () => {
    // The docker CLI runs compose as a plugin child process: killing only `docker` is not enough.
    // The stand-in's children keep its output pipes open, as a plugin would.
    const s = standIn('sleep 96.321 & sleep 96.321 & wait');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out after 300ms')), 300);
    const survivors = () => spawnSync('pgrep', ['-f', 'sleep 96.321'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    try {
      const outcome = await Promise.race([
        composeStep.run(params({ action: 'up', dir: s.project }), stepCtx(root, { env: s.env, signal: controller.signal })).then(
          () => 'succeeded',
          (error: unknown) => (error instanceof StepFailedError ? error.message : `unexpected ${String(error)}`),
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still running 5s after the timeout'), 5300)),
      ]);
      expect(outcome).toBe('timed out after 300ms');
      const end = Date.now() + 1000;
      while (survivors().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(survivors()).toEqual([]);
    } finally {
      // Kill (by pid) whatever survived, so a failure here leaves no processes behind.
      for (const pid of survivors()) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
});

describe('compose step: which compose runs', () => {
  it('auto: docker compose when the docker CLI answers `docker compose version`', async () => {
    const s = standIn();
    await composeStep.run(params({ action: 'restart', services: ['api'], dir: s.project }), stepCtx(root, { env: s.env }));
    expect(recorded(s.calls, { probes: true }).map((c) => c.argv.join(' '))).toEqual(['compose version', 'compose restart api']);
  });

  it('auto: docker-compose (v1) when docker has no compose plugin; a runbook may also name it', async () => {
    const docker = standIn(`echo "docker: 'compose' is not a docker command." >&2; exit 1`, { plugin: false });
    const v1 = join(docker.bin, 'docker-compose');
    writeFileSync(v1, `#!/bin/bash\n{ echo "cwd=$PWD"; for a in "$@"; do echo "arg=$a"; done; echo "--"; } >> ${docker.calls}.v1\necho 1.29.2\n`);
    chmodSync(v1, 0o755);
    const ctx = stepCtx(root, { env: docker.env });
    await composeStep.run(params({ action: 'up', services: ['api'], dir: docker.project }), ctx);
    expect(recorded(`${docker.calls}.v1`).map((c) => c.argv.join(' '))).toEqual(['version --short', 'up -d api']);
    await composeStep.run(params({ action: 'logs', services: ['api'], dir: docker.project, cli: 'docker-compose', tail: 5 }), ctx);
    expect(recorded(`${docker.calls}.v1`).at(-1)!.argv).toEqual(['logs', '--no-color', '--tail', '5', 'api']);
    expect(composeStep.describe(params({ action: 'restart', services: ['api'], cli: 'docker-compose' }))).toBe('docker-compose restart api');
    expect(composeStep.commands!(params({ action: 'restart', cli: 'docker-compose' }))).toEqual(['docker-compose']);
  });
});

describe('compose step: docker without the compose plugin', () => {
  it('says the plugin is missing instead of a bare exit code', async () => {
    // Stand-in docker (no engine here): answers like a docker CLI without the compose plugin.
    const s = standIn('echo "docker: unknown command: docker compose" >&2; exit 1');
    const error = await failure(composeStep.run(params({ action: 'restart', services: ['api'], dir: s.project, cli: 'docker compose' }), stepCtx(root, { env: s.env })));
    expect(error.message).toMatch(/docker compose plugin is not installed/);
  });
});
