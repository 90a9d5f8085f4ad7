import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResolvedStep } from '../../src/model/runbook.js';
import { localTarget } from '../../src/steps/kit/local-target.js';
import { fileStep } from '../../src/steps/file.js';
import type { FileParams } from '../../src/steps/kit/file-params.js';
import { stepType } from '../../src/steps/registry.js';
import { failure, stepCtx } from '../support/step-context.js';

const root = mkdtempSync(join(tmpdir(), 'runbook-steps-file-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh directory per test, so "no temp files left" can look at the whole directory. */
function freshDir(): string {
  const dir = join(root, `t${++n}`);
  mkdirSync(dir);
  return dir;
}

/** Runs steps an inverse returned, the way rollback does: through the registry. */
async function runSteps(steps: ResolvedStep[], cwd: string): Promise<void> {
  for (const s of steps) {
    const type = stepType(s.type)!;
    const params = type.normalize ? type.normalize(s.params) : s.params;
    await type.run(params, stepCtx(cwd));
  }
}

const modeOf = (path: string) => statSync(path).mode & 0o7777;

describe('file step: replace', () => {
  it('replaces every occurrence of the text and keeps the rest of the file', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'app.conf'), 'mode=old\nother=1\nmode=old\n');
    const r = await fileStep.run({ path: 'app.conf', replace: { from: 'mode=old', to: 'mode=new' } }, stepCtx(dir));
    expect(readFileSync(join(dir, 'app.conf'), 'utf8')).toBe('mode=new\nother=1\nmode=new\n');
    expect(r.detail).toMatch(/bytes written/);
  });

  it('running the same replace a second time changes nothing and says so', async () => {
    const dir = freshDir();
    const path = join(dir, 'app.conf');
    writeFileSync(path, 'mode=old\n');
    const p: FileParams = { path: 'app.conf', replace: { from: 'mode=old', to: 'mode=new' } };
    await fileStep.run(p, stepCtx(dir));
    const after = readFileSync(path);
    const mtime = statSync(path).mtimeMs;
    const second = await fileStep.run(p, stepCtx(dir));
    expect(second.detail).toBe('unchanged');
    expect(readFileSync(path).equals(after)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(mtime);
  });

  it('running a replace whose new text contains the old text a second time changes nothing (listen 80 → listen 8080)', async () => {
    // Documents the expected behaviour: a second apply must not turn "listen 8080" into "listen 808080".
    const dir = freshDir();
    const path = join(dir, 'nginx.conf');
    writeFileSync(path, 'listen 80;\n');
    const p: FileParams = { path: 'nginx.conf', replace: { from: 'listen 80', to: 'listen 8080' } };
    await fileStep.run(p, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('listen 8080;\n');
    await fileStep.run(p, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('listen 8080;\n');
  });

  it('fails with a clear message naming the file and the text when the text to replace is not there', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'app.conf'), 'something else\n');
    const e = await failure(fileStep.run({ path: 'app.conf', replace: { from: 'mode=old', to: 'mode=new' } }, stepCtx(dir)));
    expect(e.message).toBe('text to replace not found in app.conf: "mode=old"');
    expect(readFileSync(join(dir, 'app.conf'), 'utf8')).toBe('something else\n');
  });

  it('fails when the file to replace in does not exist, and creates nothing', async () => {
    const dir = freshDir();
    const e = await failure(fileStep.run({ path: 'missing.conf', replace: { from: 'a', to: 'b' } }, stepCtx(dir)));
    expect(e.message).toBe('missing.conf does not exist');
    expect(existsSync(join(dir, 'missing.conf'))).toBe(false);
  });

  it('with count, fails when the number of occurrences differs and leaves the file alone', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'app.conf'), 'x=1\nx=1\n');
    const e = await failure(fileStep.run({ path: 'app.conf', replace: { from: 'x=1', to: 'x=2', count: 1 } }, stepCtx(dir)));
    expect(e.message).toBe('expected 1 occurrence(s) in app.conf, found 2');
    expect(readFileSync(join(dir, 'app.conf'), 'utf8')).toBe('x=1\nx=1\n');
  });
});

describe('file step: content, line, absent', () => {
  it('content writes the whole file, creating it, with the requested mode', async () => {
    const dir = freshDir();
    await fileStep.run({ path: 'new.sh', content: '#!/bin/sh\necho hi\n', mode: '0755' }, stepCtx(dir));
    expect(readFileSync(join(dir, 'new.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(modeOf(join(dir, 'new.sh'))).toBe(0o755);
  });

  it('content with base64 encoding writes exact binary bytes', async () => {
    const dir = freshDir();
    const bytes = Buffer.from([0, 1, 2, 254, 255, 10, 13]);
    await fileStep.run({ path: 'blob.bin', content: bytes.toString('base64'), encoding: 'base64' }, stepCtx(dir));
    expect(readFileSync(join(dir, 'blob.bin')).equals(bytes)).toBe(true);
  });

  it('content keeps the mode of an existing file when no mode is given', async () => {
    const dir = freshDir();
    const path = join(dir, 'secret.env');
    writeFileSync(path, 'A=1\n');
    chmodSync(path, 0o600);
    await fileStep.run({ path: 'secret.env', content: 'A=2\n' }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('A=2\n');
    expect(modeOf(path)).toBe(0o600);
  });

  it('keeps the owner of a file that belongs to the service, when root edits it', async () => {
    // CI runs as root, where a careless rename would hand the service's config to root. Run
    // as another user, only that user can own the file, and the check is of that.
    const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : { uid: process.getuid!(), gid: process.getgid!() };
    const dir = freshDir();
    const path = join(dir, 'app.conf');
    writeFileSync(path, 'pool=5\n');
    chownSync(path, owner.uid, owner.gid);
    await fileStep.run({ path: 'app.conf', replace: { from: 'pool=5', to: 'pool=10' } }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('pool=10\n');
    expect({ uid: statSync(path).uid, gid: statSync(path).gid }).toEqual(owner);
  });

  it('line is appended when missing, and a second run leaves exactly one copy', async () => {
    const dir = freshDir();
    const path = join(dir, 'hosts');
    writeFileSync(path, '127.0.0.1 localhost');
    await fileStep.run({ path: 'hosts', line: '127.0.0.1 db.local' }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('127.0.0.1 localhost\n127.0.0.1 db.local\n');
    const second = await fileStep.run({ path: 'hosts', line: '127.0.0.1 db.local' }, stepCtx(dir));
    expect(second.detail).toBe('unchanged');
    expect(readFileSync(path, 'utf8')).toBe('127.0.0.1 localhost\n127.0.0.1 db.local\n');
  });

  it('line with regexp replaces the matching line in place', async () => {
    const dir = freshDir();
    const path = join(dir, 'pg.conf');
    writeFileSync(path, 'a = 1\nmax_connections = 100\nb = 2\n');
    await fileStep.run({ path: 'pg.conf', line: 'max_connections = 200', regexp: '^max_connections\\s*=' }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('a = 1\nmax_connections = 200\nb = 2\n');
  });

  it('line creates the file when it does not exist', async () => {
    const dir = freshDir();
    await fileStep.run({ path: 'fresh.txt', line: 'only line' }, stepCtx(dir));
    expect(readFileSync(join(dir, 'fresh.txt'), 'utf8')).toBe('only line\n');
  });

  it('absent deletes the file, and a second run says it is already absent', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'old.lock'), 'x');
    expect((await fileStep.run({ path: 'old.lock', absent: true }, stepCtx(dir))).detail).toBe('deleted');
    expect(existsSync(join(dir, 'old.lock'))).toBe(false);
    expect((await fileStep.run({ path: 'old.lock', absent: true }, stepCtx(dir))).detail).toBe('already absent');
  });

  it('an absolute path is used as is, whatever the cwd', async () => {
    const dir = freshDir();
    const other = freshDir();
    await fileStep.run({ path: join(other, 'abs.txt'), content: 'abs\n' }, stepCtx(dir));
    expect(readFileSync(join(other, 'abs.txt'), 'utf8')).toBe('abs\n');
    expect(existsSync(join(dir, 'abs.txt'))).toBe(false);
  });
});

describe('file step: symlinks', () => {
  it('changing a file through a symlink changes the target and keeps the link (sites-enabled → sites-available)', async () => {
    // Documents expected behaviour: an atomic rename over the link would replace the link with a
    // plain file and leave the real config untouched.
    const dir = freshDir();
    writeFileSync(join(dir, 'site.conf'), 'listen 80;\n');
    symlinkSync('site.conf', join(dir, 'enabled.conf'));
    await fileStep.run({ path: 'enabled.conf', replace: { from: 'listen 80;', to: 'listen 81;' } }, stepCtx(dir));
    expect(lstatSync(join(dir, 'enabled.conf')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'site.conf'), 'utf8')).toBe('listen 81;\n');
  });
});

describe('file step: inverse taken before the run restores the exact prior state', () => {
  it('restores the prior bytes and mode after a replace', async () => {
    const dir = freshDir();
    const path = join(dir, 'app.conf');
    const before = Buffer.from('mode=old\r\nweird bytes: \u00e9\u2603\n\tno newline at end');
    writeFileSync(path, before);
    chmodSync(path, 0o640);
    const p: FileParams = { path: 'app.conf', replace: { from: 'mode=old', to: 'mode=new' } };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(readFileSync(path).equals(before)).toBe(false);
    await runSteps(inverse, dir);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(modeOf(path)).toBe(0o640);
  });

  it('restores the prior mode after a content step changed it', async () => {
    const dir = freshDir();
    const path = join(dir, 'run.sh');
    writeFileSync(path, 'echo old\n');
    chmodSync(path, 0o600);
    const p: FileParams = { path: 'run.sh', content: 'echo new\n', mode: '0755' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(modeOf(path)).toBe(0o755);
    await runSteps(inverse, dir);
    expect(readFileSync(path, 'utf8')).toBe('echo old\n');
    expect(modeOf(path)).toBe(0o600);
  });

  it('deletes the file again when it did not exist before', async () => {
    const dir = freshDir();
    const p: FileParams = { path: 'created.txt', content: 'new\n' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    expect(inverse).toHaveLength(1);
    await fileStep.run(p, stepCtx(dir));
    expect(existsSync(join(dir, 'created.txt'))).toBe(true);
    await runSteps(inverse, dir);
    expect(existsSync(join(dir, 'created.txt'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('puts back a file that absent deleted, bytes and mode', async () => {
    const dir = freshDir();
    const path = join(dir, 'keep.bin');
    const before = Buffer.from([1, 2, 3, 0, 255]);
    writeFileSync(path, before);
    chmodSync(path, 0o751);
    const p: FileParams = { path: 'keep.bin', absent: true };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(existsSync(path)).toBe(false);
    await runSteps(inverse, dir);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(modeOf(path)).toBe(0o751);
  });

  it('the inverse is idempotent: running it twice gives the same prior state', async () => {
    const dir = freshDir();
    const path = join(dir, 'twice.txt');
    writeFileSync(path, 'before\n');
    const p: FileParams = { path: 'twice.txt', line: 'added' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    await runSteps(inverse, dir);
    await runSteps(inverse, dir);
    expect(readFileSync(path, 'utf8')).toBe('before\n');
  });

  it('the inverse names an absolute path, so it works from any cwd', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'rel.txt'), 'v1\n');
    const inverse = await fileStep.inverse!({ path: 'rel.txt', content: 'v2\n' }, stepCtx(dir));
    await fileStep.run({ path: 'rel.txt', content: 'v2\n' }, stepCtx(dir));
    await runSteps(inverse, freshDir());
    expect(readFileSync(join(dir, 'rel.txt'), 'utf8')).toBe('v1\n');
  });
});

describe('file step: atomic write', () => {
  it('leaves no temp files in the directory after writes, replaces, lines and deletes', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a.conf'), 'k=1\n');
    await fileStep.run({ path: 'a.conf', replace: { from: 'k=1', to: 'k=2' } }, stepCtx(dir));
    await fileStep.run({ path: 'a.conf', line: 'z=9' }, stepCtx(dir));
    await fileStep.run({ path: 'b.conf', content: 'b\n', mode: '0600' }, stepCtx(dir));
    await fileStep.run({ path: 'b.conf', absent: true }, stepCtx(dir));
    expect(readdirSync(dir)).toEqual(['a.conf']);
    expect(readFileSync(join(dir, 'a.conf'), 'utf8')).toBe('k=2\nz=9\n');
  });

  it('a write into a missing directory names the directory, not a temp file, and leaves nothing behind', async () => {
    const dir = freshDir();
    for (const p of [{ path: 'no/such/dir/x.conf', content: 'x' }, { path: 'no/such/dir/x.conf', line: 'a=1' }]) {
      const e = await failure(fileStep.run(p, stepCtx(dir)));
      expect(e.message).toBe('cannot write no/such/dir/x.conf: directory no/such/dir does not exist');
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('replaces the file by rename: a reader holding the old file still sees the old bytes', async () => {
    const dir = freshDir();
    const path = join(dir, 'swap.txt');
    writeFileSync(path, 'old\n');
    const inodeBefore = statSync(path).ino;
    await fileStep.run({ path: 'swap.txt', content: 'new\n' }, stepCtx(dir));
    expect(statSync(path).ino).not.toBe(inodeBefore);
    expect(readFileSync(path, 'utf8')).toBe('new\n');
  });
});

describe('file step: preview (dry run) changes nothing', () => {
  it('says how many occurrences a replace will change', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a.conf'), 'x y x\n');
    const v = await fileStep.preview!({ path: 'a.conf', replace: { from: 'x', to: 'z' } }, stepCtx(dir));
    expect(v).toEqual({ verdict: 'will run', detail: 'replace 2 occurrence(s) in a.conf' });
    expect(readFileSync(join(dir, 'a.conf'), 'utf8')).toBe('x y x\n');
  });

  it('says a file already as wanted will not change', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a.conf'), 'line\n');
    expect(await fileStep.preview!({ path: 'a.conf', line: 'line' }, stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'a.conf already as wanted (no change)' });
  });

  it('cannot predict a replace whose text is not there yet (an earlier step may add it)', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a.conf'), 'nothing\n');
    const v = await fileStep.preview!({ path: 'a.conf', replace: { from: 'mode=old', to: 'mode=new' } }, stepCtx(dir));
    expect(v.verdict).toBe('cannot predict');
    expect(v.detail).toContain('text to replace not found in a.conf');
  });

  it('describes a delete, a missing file to delete, and a new file with its size', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'old'), 'x');
    expect(await fileStep.preview!({ path: 'old', absent: true }, stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'delete old' });
    expect(await fileStep.preview!({ path: 'gone', absent: true }, stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'gone already absent' });
    expect(await fileStep.preview!({ path: 'new', content: 'hello' }, stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'write new (5 bytes)' });
    expect(existsSync(join(dir, 'new'))).toBe(false);
    expect(existsSync(join(dir, 'old'))).toBe(true);
  });
});

describe('file step: bytes that are not UTF-8 stay as they were', () => {
  // "café" in Latin-1: the é is the single byte e9, which a UTF-8 round trip turns into ef bf bd.
  const latin1 = (text: string) => Buffer.from(text, 'latin1');

  it('replace changes only the replaced text of a Latin-1 file', async () => {
    const dir = freshDir();
    const path = join(dir, 'menu.conf');
    writeFileSync(path, latin1('name=café\nmode=old\n\xff\xfe end'));
    await fileStep.run({ path: 'menu.conf', replace: { from: 'mode=old', to: 'mode=new' } }, stepCtx(dir));
    expect(readFileSync(path).equals(latin1('name=café\nmode=new\n\xff\xfe end'))).toBe(true);
  });

  it('line appends to, or replaces a line in, a Latin-1 file without touching the other bytes', async () => {
    const dir = freshDir();
    const path = join(dir, 'menu.conf');
    writeFileSync(path, latin1('name=café\nsize=1\n'));
    await fileStep.run({ path: 'menu.conf', line: 'b=2' }, stepCtx(dir));
    expect(readFileSync(path).equals(latin1('name=café\nsize=1\nb=2\n'))).toBe(true);
    await fileStep.run({ path: 'menu.conf', line: 'size=2', regexp: '^size=' }, stepCtx(dir));
    expect(readFileSync(path).equals(latin1('name=café\nsize=2\nb=2\n'))).toBe(true);
  });

  it('a UTF-8 replacement text is written as UTF-8 next to Latin-1 bytes', async () => {
    const dir = freshDir();
    const path = join(dir, 'mixed.txt');
    writeFileSync(path, latin1('é|X|'));
    await fileStep.run({ path: 'mixed.txt', replace: { from: 'X', to: '☃' } }, stepCtx(dir));
    expect(readFileSync(path).equals(Buffer.concat([latin1('é|'), Buffer.from('☃', 'utf8'), latin1('|')]))).toBe(true);
  });
});

describe('file step: applying twice changes nothing', () => {
  it('a replace that removes text (to: "") finds it already removed the second time', async () => {
    const dir = freshDir();
    const path = join(dir, '.env');
    writeFileSync(path, 'A=1\nDEBUG=1\nB=2\n');
    const p: FileParams = { path: '.env', replace: { from: 'DEBUG=1\n', to: '' } };
    await fileStep.run(p, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('A=1\nB=2\n');
    expect((await fileStep.run(p, stepCtx(dir))).detail).toBe('unchanged');
    expect(readFileSync(path, 'utf8')).toBe('A=1\nB=2\n');
  });

  it('line finds b=2 already present in a CRLF file and does not add a second one', async () => {
    const dir = freshDir();
    const path = join(dir, 'win.ini');
    writeFileSync(path, 'a=1\r\nb=2\r\n');
    expect((await fileStep.run({ path: 'win.ini', line: 'b=2' }, stepCtx(dir))).detail).toBe('unchanged');
    expect(readFileSync(path, 'utf8')).toBe('a=1\r\nb=2\r\n');
  });

  it('a line added to a CRLF file ends in CRLF, and a replaced line keeps its CRLF', async () => {
    const dir = freshDir();
    const path = join(dir, 'win.ini');
    writeFileSync(path, 'a=1\r\nsize=1\r\n');
    await fileStep.run({ path: 'win.ini', line: 'c=3' }, stepCtx(dir));
    await fileStep.run({ path: 'win.ini', line: 'size=2', regexp: '^size=' }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('a=1\r\nsize=2\r\nc=3\r\n');
    await fileStep.run({ path: 'win.ini', line: 'c=3' }, stepCtx(dir));
    expect(readFileSync(path, 'utf8')).toBe('a=1\r\nsize=2\r\nc=3\r\n');
  });

  it('a line with a line break in it is refused (it could never be found again)', async () => {
    const dir = freshDir();
    const e = await failure(fileStep.run({ path: 'x', line: 'a\nb' }, stepCtx(dir)));
    expect(e.message).toMatch(/single line/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});

describe('file step: rollback never touches a file that is already as before', () => {
  it('the inverse of a replace that failed (text not found) leaves the file alone: same inode, same mtime', async () => {
    const dir = freshDir();
    const path = join(dir, 'app.conf');
    writeFileSync(path, 'something else\n');
    const p: FileParams = { path: 'app.conf', replace: { from: 'mode=old', to: 'mode=new' } };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await failure(fileStep.run(p, stepCtx(dir)));
    const { ino, mtimeMs } = statSync(path);
    await runSteps(inverse, dir);
    expect(readFileSync(path, 'utf8')).toBe('something else\n');
    expect(statSync(path).ino).toBe(ino);
    expect(statSync(path).mtimeMs).toBe(mtimeMs);
  });

  it('a crash between the snapshot and the write (file still as before) rolls back as a no-op', async () => {
    const dir = freshDir();
    const path = join(dir, 'app.conf');
    writeFileSync(path, 'max: 5\n');
    const inverse = await fileStep.inverse!({ path: 'app.conf', replace: { from: 'max: 5', to: 'max: 10' } }, stepCtx(dir));
    const { ino } = statSync(path);
    await runSteps(inverse, dir);
    expect(readFileSync(path, 'utf8')).toBe('max: 5\n');
    expect(statSync(path).ino).toBe(ino);
  });

  it('a mode the apply changed on unchanged bytes is put back in place', async () => {
    const dir = freshDir();
    const path = join(dir, 'run.sh');
    writeFileSync(path, 'echo\n');
    chmodSync(path, 0o644);
    const p: FileParams = { path: 'run.sh', content: 'echo\n', mode: '0755' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(modeOf(path)).toBe(0o755);
    const { ino } = statSync(path);
    await runSteps(inverse, dir);
    expect(modeOf(path)).toBe(0o644);
    expect(statSync(path).ino).toBe(ino);
  });
});

describe('file step: rollback does not overwrite what someone changed after the apply', () => {
  async function appliedThenEdited(dir: string) {
    const path = join(dir, 'auth.js');
    writeFileSync(path, 'max: 5\n');
    const p: FileParams = { path: 'auth.js', replace: { from: 'max: 5', to: 'max: 10' } };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    writeFileSync(path, 'max: 10\noperator-hotfix: true\n');
    return { path, inverse };
  }

  it('refuses, names the file and says what to do, and leaves the later edit in place', async () => {
    const dir = freshDir();
    const { path, inverse } = await appliedThenEdited(dir);
    const e = await failure(fileStep.run(inverse[0]!.params as FileParams, stepCtx(dir)));
    expect(e.message).toContain(`${path} was changed by someone else after the apply`);
    expect(e.message).toContain('runbook rollback --force');
    expect(readFileSync(path, 'utf8')).toBe('max: 10\noperator-hotfix: true\n');
    expect(await fileStep.drift!(inverse[0]!.params as FileParams, localTarget('/'))).toContain(`${path} was changed by someone else after the apply`);
  });

  it('with --force, restores the pre-apply bytes and says it overwrote later changes', async () => {
    const dir = freshDir();
    const { path, inverse } = await appliedThenEdited(dir);
    const r = await fileStep.run(inverse[0]!.params as FileParams, stepCtx(dir, { force: true }));
    expect(readFileSync(path, 'utf8')).toBe('max: 5\n');
    expect(r.detail).toMatch(/later changes overwritten \(--force\)/);
  });

  it('a file the apply created and someone then edited is not deleted', async () => {
    const dir = freshDir();
    const path = join(dir, 'new.conf');
    const p: FileParams = { path: 'new.conf', content: 'a=1\n' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    writeFileSync(path, 'a=1\nlocal=1\n');
    await failure(fileStep.run(inverse[0]!.params as FileParams, stepCtx(dir)));
    expect(readFileSync(path, 'utf8')).toBe('a=1\nlocal=1\n');
  });

  it('no drift is reported while the file is as the apply left it', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a.conf'), 'x=1\n');
    const p: FileParams = { path: 'a.conf', replace: { from: 'x=1', to: 'x=2' } };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(await fileStep.drift!(inverse[0]!.params as FileParams, localTarget('/'))).toBeUndefined();
  });
});

describe('file step: absent, then rollback, gives back the same kind of file', () => {
  it('a symlink that absent removed comes back as the same symlink (not a copy of its target)', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'real.conf'), 'listen 80;\n');
    symlinkSync('real.conf', join(dir, 'link.conf'));
    const p: FileParams = { path: 'link.conf', absent: true };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    expect(existsSync(join(dir, 'link.conf'))).toBe(false);
    expect(readFileSync(join(dir, 'real.conf'), 'utf8')).toBe('listen 80;\n');
    await runSteps(inverse, dir);
    expect(lstatSync(join(dir, 'link.conf')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'link.conf'))).toBe('real.conf');
    expect(readdirSync(dir).sort()).toEqual(['link.conf', 'real.conf']);
  });

  it('a dangling symlink that a content step replaced with a file comes back as the dangling symlink', async () => {
    const dir = freshDir();
    symlinkSync('missing-target.conf', join(dir, 'link.conf'));
    const p: FileParams = { path: 'link.conf', content: 'x=1\n' };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    await runSteps(inverse, dir);
    expect(lstatSync(join(dir, 'link.conf')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'link.conf'))).toBe('missing-target.conf');
    expect(readdirSync(dir)).toEqual(['link.conf']);
  });

  it.runIf(process.getuid?.() === 0)('a file owned by nobody:nogroup that absent removed comes back owned by nobody:nogroup, with its mode', async () => {
    const dir = freshDir();
    const path = join(dir, 'service.conf');
    writeFileSync(path, 'pool=5\n');
    chownSync(path, 65534, 65534);
    chmodSync(path, 0o640);
    const p: FileParams = { path: 'service.conf', absent: true };
    const inverse = await fileStep.inverse!(p, stepCtx(dir));
    await fileStep.run(p, stepCtx(dir));
    await runSteps(inverse, dir);
    const st = statSync(path);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ uid: 65534, gid: 65534, mode: 0o640 });
    expect(readFileSync(path, 'utf8')).toBe('pool=5\n');
  });
});
