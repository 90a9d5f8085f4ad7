/**
 * compose steps on a real sshd host against a real Docker engine (tools/docker-engine.ts, one
 * for the file): docker-compose runs on the host, on the host's project in its private /srv,
 * and reaches the engine through DOCKER_HOST given in the steps' env — as an operator whose
 * engine does not listen on /var/run/docker.sock would. What a test asserts is read from the
 * engine: the container's name, state and configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEngine, stopEngine, type DockerEngine } from '../../tools/docker-engine.js';
import { eventName, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;
let engine: DockerEngine;

const IMAGE = 'runbook-compose-on-host:local';
const CONTAINER = 'runbook_compose_web';

const docker = (...args: string[]) => execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: engine.host }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** An image of a skeleton root filesystem (no registry): the containers run the machine's /usr, mounted read-only. */
function importImage(): void {
  const root = mkdtempSync(join(tmpdir(), 'runbook-compose-rootfs-'));
  try {
    for (const d of ['etc', 'tmp', 'sbin', 'usr', 'proc', 'sys', 'dev']) mkdirSync(join(root, d));
    for (const [link, target] of [['bin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) symlinkSync(target!, join(root, link!));
    execFileSync('sh', ['-c', 'tar -C "$1" --numeric-owner -c . | docker import - "$2"', 'sh', root, IMAGE], { env: { ...process.env, DOCKER_HOST: engine.host }, stdio: ['ignore', 'ignore', 'pipe'] });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  [fleet, engine] = await Promise.all([startFleet('c', 1, 244), startEngine()]);
  importImage();
}, 120_000);
afterAll(() => {
  fleet?.stop();
  if (engine) stopEngine(engine);
});

/** The host's compose project: one service, its GREETING the thing a change changes. */
const COMPOSE = `version: "2.4"
services:
  web:
    image: ${IMAGE}
    container_name: ${CONTAINER}
    network_mode: host
    init: true
    environment:
      GREETING: old
    volumes:
      - "/usr:/usr:ro"
    command: ["sleep", "infinity"]
`;

beforeEach(() => {
  docker('rm', '-f', CONTAINER);
  fleet.on('c-1', `rm -rf /srv/app && mkdir -p /srv/app && printf '%s' '${COMPOSE}' > /srv/app/docker-compose.yml`);
  fleet.on('c-1', `cd /srv/app && DOCKER_HOST=${engine.host} docker-compose up -d 2>&1`);
});

/** The service's container as the engine runs it: name, state, command, image, GREETING. */
const container = () => docker('ps', '-a', '--filter', `name=${CONTAINER}`, '--format', '{{.Names}} {{.State}} {{.Command}} {{.Image}}') + docker('exec', CONTAINER, 'printenv', 'GREETING');

const id = () => docker('inspect', '--format', '{{.Id}}', CONTAINER).trim();

/** Change 1 sets GREETING=new and recreates the container; change 2's verify fails with fail=yes. */
const runbook = (extraApply = '') => `runbook: 1
name: compose-on-host
hosts:
  app: [c-1]
vars: { fail: "no", docker_host: "unix:///var/run/docker.sock" }
changes:
  - id: greeting
    title: A new greeting in the web service
    risk: 1
    on: app
    apply:
      - file: { path: /srv/app/docker-compose.yml, replace: { from: "GREETING: old", to: "GREETING: new" } }
      - compose: { action: up, services: [web], dir: /srv/app }
        env: { DOCKER_HOST: "{{ docker_host }}" }
${extraApply}    verify:
      - run: "docker exec ${CONTAINER} printenv GREETING | grep -qx new"
        env: { DOCKER_HOST: "{{ docker_host }}" }
    rollback:
      - undo: apply
      - compose: { action: up, services: [web], dir: /srv/app, recreate: true, cli: docker-compose }
        env: { DOCKER_HOST: "{{ docker_host }}" }
  - id: later
    title: A later change whose verify can fail
    risk: 1
    on: app
    apply:
      - file: { path: /srv/marker, content: "later\\n" }
    verify:
      - run: "test {{ fail }} = no"
`;

describe('compose on a host against a real Docker engine', () => {
  it('recreates the container with the new config; a later change failing its verify rolls the compose change back: the container runs as before', async () => {
    const before = container();
    expect(before).toMatch(new RegExp(`^${CONTAINER} running .*sleep infinity.* ${IMAGE}\\nold\\n$`));
    const ws = workspace(fleet, runbook());
    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', `docker_host=${engine.host}`, '--var', 'fail=yes']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/\[apply 1\/2 greeting · step 2\] docker compose up -d web … ok/);
    expect(r.stdout).toMatch(/\[verify 1\/2 greeting · step 1\] .* … ok/);
    expect(r.stdout).toContain('still applied: nothing — the system is as before this run');
    expect(container()).toBe(before);
    expect(fleet.on('c-1', 'cat /srv/app/docker-compose.yml')).toBe(COMPOSE);
  });

  it('after a successful apply the new container runs; `runbook rollback` brings the old one back', async () => {
    const before = container();
    const ws = workspace(fleet, runbook());
    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', `docker_host=${engine.host}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(container()).toBe(before.replace(/old\n$/, 'new\n'));
    const rb = ws.cli(['rollback', ws.runbook, '--yes', '--var', `docker_host=${engine.host}`]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(container()).toBe(before);
  });

  it('kill -9 of the control node while docker-compose is stopping the old container on the host: one `runbook rollback` brings the old container back', async () => {
    // A slow stop: sleep as PID 1 ignores SIGTERM, so the engine waits out the grace period before it kills it.
    fleet.on('c-1', "sed -i 's/    init: true/    init: false\\n    stop_grace_period: 4s/' /srv/app/docker-compose.yml");
    fleet.on('c-1', `cd /srv/app && DOCKER_HOST=${engine.host} docker-compose up -d 2>&1`);
    const before = container();
    expect(before).toMatch(/running "sleep infinity"/);
    const stoppedId = id();
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const stopping = () => docker('events', '--since', since, '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${CONTAINER}`, '--filter', 'event=kill', '--format', '{{.Action}}').includes('kill');
    const ws = workspace(fleet, runbook());
    const run = ws.start(['apply', ws.runbook, '--yes', '--var', `docker_host=${engine.host}`]);
    await until(() => fleet.ssh('c-1', 'ps -eo args').stdout.includes('docker-compose up -d web'), 'docker-compose running on c-1');
    await until(stopping, 'the engine stopping the old container');
    run.kill('SIGKILL');
    expect((await run.done).code).toBeNull();
    expect(run.events().some((e) => eventName(e) === 'step.finished' && e.changeId === 'greeting' && e.index === 1)).toBe(false);
    const rb = ws.cli(['rollback', ws.runbook, '--yes', '--var', `docker_host=${engine.host}`]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    // A fresh container from the restored file: the one the engine was stopping for the killed compose is gone,
    // so nothing of that stop can reach the service later.
    expect(container()).toBe(before);
    expect(id()).not.toBe(stoppedId);
    expect(fleet.ssh('c-1', 'ps -eo args').stdout).not.toContain('docker-compose');
  });
});
