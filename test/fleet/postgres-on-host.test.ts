/**
 * A postgres step in a change on hosts talks to the server the host sees: here a PostgreSQL
 * started inside the host, listening only on a unix socket in the host's private /srv — this
 * machine cannot reach it except through the host's ssh connection (a forwarded port).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;
const BIN = ['17', '16', '15', '14'].map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(`${d}/initdb`));

/** A cluster inside the host: data and socket under /srv, no TCP listener. */
function startPostgresOn(host: string): void {
  const r = fleet.ssh(
    host,
    [
      'set -e',
      'mkdir -p /srv/pg /srv/pgsock && chown postgres /srv/pg /srv/pgsock',
      `runuser -u postgres -- ${BIN}/initdb -D /srv/pg/data -U postgres -A trust --no-sync >/dev/null`,
      `runuser -u postgres -- ${BIN}/pg_ctl -D /srv/pg/data -w -o "-c listen_addresses='' -k /srv/pgsock -c fsync=off" -l /srv/pg/log start >/dev/null`,
    ].join('\n'),
  );
  if (r.status !== 0) throw new Error(`PostgreSQL on ${host} did not start: ${r.stderr}`);
}

beforeAll(async () => {
  if (!BIN) throw new Error('PostgreSQL server binaries (initdb) are not installed: /usr/lib/postgresql/*/bin');
  fleet = await startFleet('pg', 2, 200 + 15);
  for (const h of fleet.hosts) startPostgresOn(h.name);
}, 120_000);
afterAll(() => {
  for (const h of fleet?.hosts ?? []) fleet.ssh(h.name, `runuser -u postgres -- ${BIN}/pg_ctl -D /srv/pg/data -m immediate stop >/dev/null 2>&1`);
  fleet?.stop();
});

const runbook = `runbook: 1
name: pg-on-hosts
title: A table on each host's own PostgreSQL
hosts:
  db: [pg-1, pg-2]
rollout: { canary: 1, batch: 1 }
changes:
  - id: marker
    title: A marker table naming its host
    risk: 1
    on: db
    apply:
      - postgres: { url: "postgres://postgres@localhost/postgres?host=/srv/pgsock", exec: "CREATE TABLE marker (host text); INSERT INTO marker VALUES ({{ host.name }})" }
    verify:
      - postgres: { url: "postgres://postgres@localhost/postgres?host=/srv/pgsock", query: "SELECT host FROM marker", expect: "{{ host.name }}" }
    rollback:
      - postgres: { url: "postgres://postgres@localhost/postgres?host=/srv/pgsock", exec: "DROP TABLE marker" }
`;

const tables = (host: string) => fleet.ssh(host, `runuser -u postgres -- psql -h /srv/pgsock -At -c "SELECT coalesce(string_agg(tablename, ','), '') FROM pg_tables WHERE schemaname = 'public'"`).stdout.trim();

describe('postgres steps on hosts', () => {
  it("reach each host's own server (a socket only the host can see) through its ssh connection, and roll back there", () => {
    expect(existsSync('/srv/pgsock')).toBe(false);
    const ws = workspace(fleet, runbook);
    const r = ws.cli(['apply', ws.runbook, '--yes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pg-2 \| \[verify 1\/1 marker · step 1\] .* … ok/m);
    for (const h of ['pg-1', 'pg-2']) {
      expect(tables(h)).toBe('marker');
      expect(fleet.ssh(h, 'runuser -u postgres -- psql -h /srv/pgsock -At -c "SELECT host FROM marker"').stdout.trim()).toBe(h);
    }
    const rb = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    for (const h of ['pg-1', 'pg-2']) expect(tables(h)).toBe('');
  });
});
