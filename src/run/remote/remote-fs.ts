/**
 * Target's file operations on a host, each one request to a shell session of the host running coreutils
 * (stat, cat, readlink, mktemp, head, chmod, chown, sync, mv, ln, rm, df, env). Paths and
 * bytes travel in the script and on stdin, so any byte of a file and any character of a path
 * arrive as data. Failures are StepFailedError naming the host.
 */
import { posix } from 'node:path';
import { StepFailedError } from '../../steps/contract.js';
import type { Entry, Owner, PathInfo, Target } from '../../steps/kit/target.js';
import type { Channel } from './channel.js';
import { exports } from './remote-command.js';
import { shellQuote } from './shell-quote.js';

interface Reply {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Exit codes of the scripts below. */
const FAILED = 2;
const ABSENT = 3;

async function call(ch: Channel, payload: string, input?: Buffer, preamble = ''): Promise<Reply> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const end = await ch.run({
    kind: 'file',
    script: preamble ? `${preamble}\n${payload}` : payload,
    ...(input ? { input } : {}),
    onData: (which, data) => (which === 'out' ? out : err).push(data),
  });
  if (end.connectionLost !== undefined) throw new StepFailedError(`${ch.host}: connection lost: ${end.connectionLost}`);
  return { code: end.exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

function failure(ch: Channel, what: string, r: Reply): StepFailedError {
  const why = r.stderr.trim().split('\n').at(-1)?.trim() || `exit code ${r.code}`;
  return new StepFailedError(`${ch.host}: cannot ${what}: ${why}`);
}

/** Strips the one newline a command substitution would keep; `x` guards trailing newlines of a name. */
const NL = `nl='\n'`;
const subst = (v: string, cmd: string) => `${v}=$(${cmd} && echo x) || exit ${FAILED}; ${v}=\${${v}%x}; ${v}=\${${v}%"$nl"}`;

/**
 * `stat` of the path (through links when follow), then, with content, its bytes or link
 * target. Followed, a dangling link is absent for `info` (as stat(2) says) but the link itself
 * for readEntry (writing through it replaces the link, so the link is what was there).
 */
function statScript(path: string, follow: boolean, content: boolean): string {
  return `p=${shellQuote(path)}; F=${follow ? 1 : 0}
if [ "$F" = 1 ] && [ -e "$p" ]; then m=$(stat -L -c '%f %u %g %s' -- "$p") || exit ${FAILED}; L=0
${content ? '' : `elif [ "$F" = 1 ]; then exit ${ABSENT}
`}elif [ -e "$p" ] || [ -L "$p" ]; then m=$(stat -c '%f %u %g %s' -- "$p") || exit ${FAILED}; [ -L "$p" ] && L=1 || L=0
else exit ${ABSENT}; fi
printf '%s\\n' "$m"
${content ? `if [ "$L" = 1 ]; then exec readlink -- "$p"; elif [ -f "$p" ]; then exec cat -- "$p"; fi` : ''}
exit 0`;
}

interface Stat {
  type: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  rest: Buffer;
}

async function statOf(ch: Channel, path: string, follow: boolean, content: boolean): Promise<Stat | undefined> {
  const r = await call(ch, statScript(path, follow, content));
  if (r.code === ABSENT) return undefined;
  if (r.code !== 0) throw failure(ch, `read ${path}`, r);
  const eol = r.stdout.indexOf(10);
  const [hex, uid, gid, size] = r.stdout.subarray(0, eol).toString('utf8').split(' ');
  const raw = parseInt(hex!, 16);
  return { type: raw & 0o170000, mode: raw & 0o7777, uid: Number(uid), gid: Number(gid), size: Number(size), rest: r.stdout.subarray(eol + 1) };
}

const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

function kindName(type: number): string {
  if (type === S_IFDIR) return 'a directory';
  if (type === 0o010000) return 'a FIFO (named pipe)';
  if (type === 0o020000 || type === 0o060000) return 'a device';
  if (type === 0o140000) return 'a socket';
  return 'of an unknown kind';
}

function linkTarget(rest: Buffer): string {
  const text = rest.toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export type RemoteFs = Pick<
  Target,
  'readFile' | 'readEntry' | 'info' | 'writeFile' | 'remove' | 'placeSymlink' | 'chmod' | 'chown' | 'freeBytes' | 'findProgram' | 'environment'
>;

export function remoteFs(ch: Channel): RemoteFs {
  const readEntry = async (path: string, follow: boolean): Promise<Entry> => {
    const st = await statOf(ch, path, follow, true);
    if (st === undefined) return { kind: 'absent' };
    if (st.type === S_IFLNK) return { kind: 'symlink', target: linkTarget(st.rest), uid: st.uid, gid: st.gid };
    if (st.type !== S_IFREG) throw new StepFailedError(`${ch.host}: cannot read ${path}: it is ${kindName(st.type)}, not a regular file`);
    return { kind: 'file', bytes: st.rest, mode: st.mode, uid: st.uid, gid: st.gid };
  };
  return {
    readEntry,
    async readFile(path) {
      const entry = await readEntry(path, true);
      return entry.kind === 'file' ? entry.bytes : undefined;
    },
    async info(path, follow): Promise<PathInfo | undefined> {
      const st = await statOf(ch, path, follow, false);
      if (st === undefined) return undefined;
      const kind = st.type === S_IFLNK ? 'symlink' : st.type === S_IFDIR ? 'directory' : st.type === S_IFREG ? 'file' : 'other';
      return { kind, ...(kind === 'file' ? { size: st.size } : {}), mode: st.mode, uid: st.uid, gid: st.gid };
    },
    async writeFile(path, bytes, mode, owner) {
      // Through a link: the file it names is replaced (a dangling link is replaced itself, as here locally);
      // a temp file beside it, synced, renamed over, the directory synced.
      const script = `${NL}; p=${shellQuote(path)}; M=${mode === undefined ? "''" : mode.toString(8)}; O=${owner ? `${owner.uid}:${owner.gid}` : "''"}
if [ -L "$p" ] && [ ! -e "$p" ]; then t=$p
else t=$(readlink -f -- "$p" && echo x) && t=\${t%x} && t=\${t%"$nl"} || t=$p; fi
[ -n "$t" ] || t=$p
${subst('d', 'dirname -- "$t"')}
${subst('tmp', 'mktemp -- "$d/.runbook-write-XXXXXX"')}
trap 'rm -f -- "$tmp"' EXIT
head -c ${bytes.length} >"$tmp" && [ "$(stat -c %s -- "$tmp")" = ${bytes.length} ] || exit ${FAILED}
if [ -n "$O" ]; then chown -- "$O" "$tmp" 2>/dev/null || [ "$(id -u)" != 0 ] || exit ${FAILED}
elif [ -e "$t" ]; then chown --reference="$t" -- "$tmp" 2>/dev/null || :; fi
if [ -n "$M" ]; then chmod -- "$M" "$tmp" || exit ${FAILED}
elif [ -e "$t" ]; then chmod --reference="$t" -- "$tmp" || exit ${FAILED}
else chmod -- "$(printf '%o' $((0666 & ~$(umask))))" "$tmp" || exit ${FAILED}; fi
sync -- "$tmp" && mv -fT -- "$tmp" "$t" || exit ${FAILED}
trap - EXIT
sync -- "$d" || exit ${FAILED}`;
      const r = await call(ch, script, bytes);
      if (r.code !== 0) throw failure(ch, `write ${path}`, r);
    },
    async remove(path) {
      const r = await call(
        ch,
        `${NL}; p=${shellQuote(path)}
[ -e "$p" ] || [ -L "$p" ] || exit 0
rm -f -- "$p" || exit ${FAILED}
${subst('d', 'dirname -- "$p"')}
sync -- "$d" || exit ${FAILED}
echo removed`,
      );
      if (r.code !== 0) throw failure(ch, `remove ${path}`, r);
      return r.stdout.toString('utf8') === 'removed\n';
    },
    async placeSymlink(path, target, owner: Owner) {
      const r = await call(
        ch,
        `${NL}; p=${shellQuote(path)}; T=${shellQuote(target)}
${subst('d', 'dirname -- "$p"')}
a="$d/.runbook-link-$$"
ln -s -- "$T" "$a" || exit ${FAILED}
chown -h -- ${owner.uid}:${owner.gid} "$a" 2>/dev/null || :
mv -fT -- "$a" "$p" || { rm -f -- "$a"; exit ${FAILED}; }
sync -- "$d" || exit ${FAILED}`,
      );
      if (r.code !== 0) throw failure(ch, `place the link ${path}`, r);
    },
    async chmod(path, mode) {
      const r = await call(ch, `chmod -- ${mode.toString(8)} ${shellQuote(path)} || exit ${FAILED}`);
      if (r.code !== 0) throw failure(ch, `chmod ${path}`, r);
    },
    async chown(path, owner) {
      const r = await call(ch, `chown -- ${owner.uid}:${owner.gid} ${shellQuote(path)} 2>/dev/null || exit ${FAILED}`);
      return r.code === 0;
    },
    async freeBytes(path) {
      const r = await call(ch, `df -Pk -- ${shellQuote(path)} || exit ${FAILED}`);
      const line = r.stdout.toString('utf8').trim().split('\n').at(-1) ?? '';
      const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s/.exec(line);
      if (r.code !== 0 || !m) throw failure(ch, `measure free space at ${path}`, r);
      return Number(m[3]) * 1024;
    },
    async findProgram(name, pathVar) {
      const r = await call(
        ch,
        `${pathVar === undefined ? '' : `PATH=${shellQuote(pathVar)}; `}r=$(command -v ${shellQuote(name)}) || exit 0
case $r in */*) [ -x "$r" ] && [ ! -d "$r" ] && printf '%s' "$r";; esac
exit 0`,
      );
      if (r.code !== 0) throw failure(ch, `look for ${name}`, r);
      return r.stdout.length ? r.stdout.toString('utf8') : undefined;
    },
    async environment(names, env) {
      const r = await call(ch, 'exec env -0', undefined, exports(ch.host, env));
      if (r.code !== 0) throw failure(ch, 'read the environment', r);
      const seen = new Map<string, string>();
      for (const pair of r.stdout.toString('utf8').split('\0')) {
        const eq = pair.indexOf('=');
        if (eq > 0) seen.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      return Object.fromEntries(names.map((n) => [n, seen.get(n)]));
    },
  };
}

/** POSIX paths on every host. */
export const resolveRemote = (dir: string, path: string): string => posix.resolve(dir, path);
