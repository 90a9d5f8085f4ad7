import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { startCli } from '../support/cli.js';
import { backend, psql, schemaFor, storedState, testStore } from '../support/state-backend.js';
import { fourChanges, type Sandbox } from './fixture.js';

/**
 * Snapshots out of the journal (issue 15, part 6): the prior bytes a rollback needs live in the
 * state's owner-only snapshot store (a 0700 directory of 0600 files, or the schema's snapshots
 * table), compressed and named by sha256; the journal holds only their digests.
 */

const PASSWORD = 'Und3clared-DB-pa55word';
/** A .env whose other keys the runbook never declared: CRLF line ends and no final newline. */
const ENV_BEFORE = `DB_PASSWORD=${PASSWORD}\r\nAPI_URL=http://old.internal\r\nMODE=a`;

/** The sandbox's runbook gets a change 1 that also edits `.env` (only API_URL; the password is not a declared secret). */
function withEnvFile(): Sandbox {
  const sb = fourChanges();
  writeFileSync(join(sb.dir, '.env'), ENV_BEFORE);
  writeFileSync(
    sb.runbook,
    readFileSync(sb.runbook, 'utf8').replace(
      '  - id: change-1\n    title: Change 1\n    risk: 0\n    apply:\n',
      '  - id: change-1\n    title: Change 1\n    risk: 0\n    apply:\n      - file: { path: "{{ dir }}/.env", replace: { from: "http://old.internal", to: "http://new.internal" } }\n',
    ),
  );
  return sb;
}

/** What the snapshot store holds for this runbook: digest → the stored (decompressed) bytes. */
function storedSnapshots(sb: Sandbox): Map<string, Buffer> {
  if (backend === 'postgres') {
    const rows = psql(`SELECT digest || ' ' || encode(data, 'hex') FROM "${schemaFor(sb.dir)}".snapshots ORDER BY digest`);
    return new Map(
      rows
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [digest, data] = line.split(' ');
          return [digest!, gunzipSync(Buffer.from(data!, 'hex'))];
        }),
    );
  }
  const dir = join(sb.state, 'snapshots');
  return new Map(readdirSync(dir).map((name) => [`sha256:${name.replace(/\.gz$/, '')}`, gunzipSync(readFileSync(join(dir, name)))]));
}

/** Takes a snapshot out of the store (or damages it), as a lost or corrupted state backup would. */
function spoilSnapshot(sb: Sandbox, digest: string, how: 'delete' | 'damage'): void {
  if (backend === 'postgres') {
    const table = `"${schemaFor(sb.dir)}".snapshots`;
    psql(how === 'delete' ? `DELETE FROM ${table} WHERE digest = '${digest}'` : `UPDATE ${table} SET data = '\\x1f8b00'::bytea WHERE digest = '${digest}'`);
    return;
  }
  const path = join(sb.state, 'snapshots', `${digest.slice('sha256:'.length)}.gz`);
  if (how === 'delete') rmSync(path);
  else writeFileSync(path, 'not gzip at all');
}

const digestsIn = (journal: string) => [...new Set(journal.match(/sha256:[0-9a-f]{64}/g) ?? [])];

describe(`snapshots out of the journal, with the ${backend} state backend`, () => {
  it('an undeclared .env password is nowhere in the stored state outside the owner-only snapshot store; rollback restores the .env byte for byte from it', () => {
    const sb = withEnvFile();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    // Everything the backend stored (every file of the state dir, or a data dump of the schema) as text: not there in any form.
    const stored = storedState(sb.dir);
    expect(stored).toContain('run.finished');
    for (const form of [PASSWORD, Buffer.from(ENV_BEFORE).toString('base64').slice(0, 24), Buffer.from(PASSWORD).toString('hex')]) expect(stored).not.toContain(form);
    const journal = sb.journal();
    expect(journal).not.toContain('"base64"');
    // The store has the .env as it was, under the digest the journal names.
    const snapshots = storedSnapshots(sb);
    const envDigest = [...snapshots].find(([, bytes]) => bytes.toString('utf8') === ENV_BEFORE)?.[0];
    expect(envDigest).toBeDefined();
    expect(digestsIn(journal)).toContain(envDigest);
    if (backend === 'file') {
      const dir = join(sb.state, 'snapshots');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const name of readdirSync(dir)) expect([name, statSync(join(dir, name)).mode & 0o777]).toEqual([name, 0o600]);
    }

    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(readFileSync(join(sb.dir, '.env')).equals(Buffer.from(ENV_BEFORE))).toBe(true);
    // No run needs them any more: gone with the rollback.
    expect(storedSnapshots(sb).size).toBe(0);
  });

  it('identical snapshots are stored once', () => {
    const sb = fourChanges();
    // Every conf file with the same content: four snapshots taken, one stored.
    for (let i = 1; i <= 4; i++) writeFileSync(join(sb.dir, `conf${i}.txt`), 'setting1=old\nsetting2=old\nsetting3=old\nsetting4=old\n');
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    expect(digestsIn(sb.journal())).toHaveLength(1);
    expect(storedSnapshots(sb).size).toBe(1);
    expect(sb.cli(['rollback', sb.runbook]).code).toBe(0);
    for (let i = 1; i <= 4; i++) expect(readFileSync(join(sb.dir, `conf${i}.txt`), 'utf8')).toBe('setting1=old\nsetting2=old\nsetting3=old\nsetting4=old\n');
  });

  it.each(['delete', 'damage'] as const)('a snapshot that is %sd: rollback stops before writing anything (exit 3), naming the file and the digest; with it back, rollback restores', async (how) => {
    const sb = withEnvFile();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    const envDigest = [...storedSnapshots(sb)].find(([, bytes]) => bytes.toString('utf8') === ENV_BEFORE)![0];
    const saved = storedSnapshots(sb).get(envDigest)!;
    const applied = { ...sb.snapshot(), env: readFileSync(join(sb.dir, '.env'), 'latin1') };
    const inodes = ['conf1.txt', 'conf2.txt', 'conf3.txt', 'conf4.txt', '.env'].map((f) => `${statSync(join(sb.dir, f)).ino}@${statSync(join(sb.dir, f)).mtimeMs}`);
    spoilSnapshot(sb, envDigest, how);
    // status says so before anyone needs the rollback (a missing one; a damaged one shows when it is read).
    if (how === 'delete') expect(sb.cli(['status', sb.runbook]).stdout).toContain(`MISSING SNAPSHOT: ${join(sb.dir, '.env')} (change change-1, run `);

    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(3);
    expect(rb.stdout).toContain(`cannot restore ${join(sb.dir, '.env')}: its pre-apply content, snapshot ${envDigest}, is ${how === 'delete' ? 'missing from' : 'damaged in'} the snapshot store`);
    expect(rb.stdout).toContain('nothing was written');
    // Not one file written: not the .env, and not the other changes' files either.
    expect({ ...sb.snapshot(), env: readFileSync(join(sb.dir, '.env'), 'latin1') }).toEqual(applied);
    expect(['conf1.txt', 'conf2.txt', 'conf3.txt', 'conf4.txt', '.env'].map((f) => `${statSync(join(sb.dir, f)).ino}@${statSync(join(sb.dir, f)).mtimeMs}`)).toEqual(inodes);

    // The snapshot put back (from a backup): the next rollback finishes the job.
    if (backend === 'file') {
      rmSync(join(sb.state, 'snapshots', `${envDigest.slice(7)}.gz`), { force: true });
    } else {
      psql(`DELETE FROM "${schemaFor(sb.dir)}".snapshots WHERE digest = '${envDigest}'`);
    }
    const store = await testStore(sb.runbook);
    try {
      expect(await store.snapshots.put(saved)).toBe(envDigest);
    } finally {
      await store.close();
    }
    const again = sb.cli(['rollback', sb.runbook]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(readFileSync(join(sb.dir, '.env')).equals(Buffer.from(ENV_BEFORE))).toBe(true);
  });

  it('kill -9 after a snapshot is stored, before its step is journaled: the snapshot is on disk first, the file untouched; rollback removes what no run needs', async () => {
    // Where change 1's step.started (the first event with an inverse) falls, from a run of an identical sandbox.
    const probe = withEnvFile();
    expect(probe.cli(['apply', probe.runbook, '--only', 'change-1']).code).toBe(0);
    const events = probe
      .journal()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { seq: number; type: string; inverse?: unknown });
    const seq = events.find((e) => e.type === 'step.started' && e.inverse)!.seq;

    const sb = withEnvFile();
    const run = startCli(['apply', sb.runbook, '--only', 'change-1'], { env: { RUNBOOK_CRASH_AT: `before:${seq}` } });
    const crashed = await run.done;
    expect(crashed.code, crashed.stdout + crashed.stderr).toBe(null);
    // Stored and durable before the event that needs it: the .env snapshot is there, the journal has no reference yet.
    expect([...storedSnapshots(sb).values()].map((b) => b.toString('utf8'))).toEqual([ENV_BEFORE]);
    expect(digestsIn(sb.journal())).toEqual([]);
    expect(readFileSync(join(sb.dir, '.env'), 'utf8')).toBe(ENV_BEFORE);

    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(readFileSync(join(sb.dir, '.env'), 'utf8')).toBe(ENV_BEFORE);
    expect(storedSnapshots(sb).size).toBe(0);
  });

  it('history --prune N removes old rolled-back runs and the snapshots no run needs; a run with applied changes is kept, said why, and still rolls back', async () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const runIds: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = sb.cli(['apply', sb.runbook, '--only', `change-${i}`]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      runIds.push(/run (\S+) \(/.exec(r.stdout)![1]!);
      // Runs 2 and 3 are rolled back; 1 and 4 stay applied.
      if (i === 2 || i === 3) expect(sb.cli(['rollback', sb.runbook, '--run', runIds[i - 1]!]).code).toBe(0);
    }
    // A snapshot no journal references: what a crash between storing it and journaling its step leaves.
    const store = await testStore(sb.runbook);
    const orphan = await store.snapshots.put(Buffer.from('left by a crash\n'));
    await store.close();
    const kept = storedSnapshots(sb);
    expect(kept.has(orphan)).toBe(true);
    expect(kept.size).toBe(3);

    const pruned = sb.cli(['history', sb.runbook, '--prune', '1']);
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`removed run ${runIds[1]} (rolled-back)\nremoved run ${runIds[2]} (rolled-back)\n`);
    expect(pruned.stdout).toMatch(new RegExp(`kept run ${runIds[0]}: it still has applied changes \\(change-1\\); it is never pruned while so`));
    expect(pruned.stdout).toContain(`removed snapshot ${orphan}\n`);
    expect(pruned.stdout).toMatch(/pruned 2 run\(s\) and 1 snapshot\(s\) no run needs any more; kept the newest 1 run\(s\) and 1 older one\(s\) still needed/);
    const history = sb.cli(['history', sb.runbook]).stdout;
    expect(history).toContain(runIds[0]);
    expect(history).toContain(runIds[3]);
    expect(history).not.toContain(runIds[1]);
    expect(history).not.toContain(runIds[2]);
    expect(storedSnapshots(sb).size).toBe(2);

    // Nothing more to prune: saying so is not an error.
    expect(sb.cli(['history', sb.runbook, '--prune', '1']).stdout).toMatch(/pruned 0 run\(s\) and 0 snapshot\(s\)/);
    expect(sb.cli(['history', sb.runbook, '--prune', 'all']).code).toBe(2);
    // The kept runs still roll back from their snapshots; then nothing needs any.
    expect(sb.cli(['rollback', sb.runbook]).code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(storedSnapshots(sb).size).toBe(0);
  });
});
