/**
 * The host lock (issue 14 part 3): the master's primary session takes `flock -n` on
 * `<dir>/runbook-<login user>.lock`, where <dir> is the first writable of $XDG_RUNTIME_DIR,
 * /run/lock and /tmp on the host, and holds it for as long as the session lives — which is as
 * long as our process (the session waits for EOF on the stdin we hold). Who holds it is
 * written beside it, in `<lock>.holder` (one JSON line), for the one who is refused.
 */
import { hostname } from 'node:os';
import type { LockHolder } from '../../state/contract.js';

/** Who asks for the lock (shown to another run that is refused). */
export interface HostLockRequest {
  runId: string;
  user: string;
  /** The control node's hostname. */
  host: string;
  pid: number;
  command: string;
  /**
   * Take the lock over from a session of this same run whose control node died without its
   * connection closing (power loss, a network partition: the host may keep such a session, and
   * the lock, until its TCP keepalive gives up): the `rollback` of that run may take its host.
   */
  reclaim?: boolean;
}

/** The holder line, sent on stdin (never on a command line). */
export function holderLine(req: HostLockRequest): string {
  const holder: LockHolder = { pid: req.pid, host: req.host || hostname(), user: req.user, command: req.command, since: new Date().toISOString(), runId: req.runId };
  return JSON.stringify(holder);
}

/** The holder as written on the host: our holder line plus the pid of the session holding the lock. */
export function parseHolder(line: string | undefined): { holder: LockHolder; remotePid?: number } {
  try {
    const h = JSON.parse(line ?? '') as Partial<LockHolder> & { remotePid?: number };
    const holder = { pid: Number(h.pid ?? 0), host: String(h.host ?? '?'), user: String(h.user ?? '?'), command: String(h.command ?? '?'), since: String(h.since ?? '?'), ...(h.runId ? { runId: String(h.runId) } : {}) };
    return { holder, ...(Number.isInteger(h.remotePid) && h.remotePid! > 1 ? { remotePid: h.remotePid } : {}) };
  } catch {
    return { holder: { pid: 0, host: '?', user: '?', command: '?', since: '?' } };
  }
}

/**
 * Shell lines of the primary session taking the lock: `$f` is the lock file after them; on
 * failure they print `runbook-locked` and the holder line, or `runbook-error <why>`, and exit.
 * The lock stays with fd 9, which the session's last command (`cat`, the same pid) inherits;
 * that pid is added to the holder line. With `reclaimPid`, that session (if it still is a
 * `cat`) is ended first and the lock waited for up to 5 s.
 */
export function takeLock(reclaimPid?: number): string {
  // `lw`, not `w`: the primary script keeps the login directory in $w.
  const how = reclaimPid === undefined ? 'lw=-n' : `lw=-n; read -r c </proc/${reclaimPid}/comm 2>/dev/null && [ "$c" = cat ] && kill -TERM ${reclaimPid} 2>/dev/null && lw=-w5`;
  return `IFS= read -r holder || exit 0
d=\${XDG_RUNTIME_DIR:-}
{ [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ]; } || d=/run/lock
{ [ -d "$d" ] && [ -w "$d" ]; } || d=/tmp
f="$d/runbook-$(id -un 2>/dev/null || id -u).lock"
command -v flock >/dev/null 2>&1 || { echo 'runbook-error flock (util-linux) is not installed on the host'; exit 0; }
true 2>/dev/null >>"$f" || { printf 'runbook-error cannot open the host lock %s\\n' "$f"; exit 0; }
exec 9>>"$f"
${how}
if ! flock $lw 9; then printf 'runbook-locked %s\\n' "$f"; cat -- "$f.holder" 2>/dev/null; printf '\\n'; exit 0; fi
printf '%s,"remotePid":%s}\\n' "\${holder%?}" "$$" >"$f.holder"
`;
}
