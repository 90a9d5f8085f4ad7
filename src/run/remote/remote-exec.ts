/**
 * One command on a host, over the master. The session runs the fixed bootstrap in a process
 * group of its own (sshd's, or `setsid -w`'s); the script it reads from stdin exports the step's
 * variables, enters the directory and starts the command with exactly `input` on its stdin. Beside it a
 * watchdog waits for EOF on the channel's stdin — our pipe — and then kills the whole group
 * (TERM, then KILL 2 s later): the remote side never outlives the channel, whether we abort,
 * the ssh client is killed, or this process dies.
 */
import { spawn } from 'node:child_process';
import { StepFailedError } from '../../steps/contract.js';
import { killGroupOnAbort } from '../../steps/kit/process-group.js';
import { BOOTSTRAP_COMMAND, framed } from './bootstrap.js';
import type { Channel } from './channel.js';

/** The first line of our output: what a login script printed before it is not ours. */
const BEGIN = 'runbook-output-begins';

/**
 * The script around a payload (shell lines with exactly `input` on their stdin, /dev/null
 * without input). The session is a process group of its own: sshd starts every session with
 * setsid(), and where it did not (the shell is not its group's leader) the script starts again
 * under util-linux `setsid -w`. A watchdog waits for EOF on the channel (fd 3) and then kills
 * the group — TERM, then KILL 2 s later; with input, the left side of a pipe hands the input
 * over first and leaves the watchdog behind. When the payload ends, the leader ends the rest of
 * its group (the watchdog, anything left in the background: TERM, and KILL 2 s later from a
 * process that holds none of the channel, so the session ends at once) and exits with the
 * payload's code. Only then does the leader ignore TERM itself: every process of the group was
 * started while TERM had its default action (a handler set earlier is inherited for an instant
 * by a child just forked, which can then miss the signal). The leader keeps its own stderr,
 * where a shell reports killed jobs, in /dev/null. SHLVL is at least 1, so the command's bash
 * does not source ~/.bashrc again (bash does that for a top-level shell run by sshd; the login
 * shell did it already). `simple`: the payload is one simple command (no `exit`, no
 * assignments), run without a subshell of its own.
 */
export function wrapScript(preamble: string, payload: string, inputLength: number, simple = false): string {
  // It holds none of the session's output: should the leader's last TERM reach it before it
  // drops the handler it was forked with, it lives on until EOF, and must not keep the session open.
  const watchdog = `{ while IFS= read -r _; do :; done; trap '' TERM; kill -TERM 0; sleep 2; kill -KILL 0; } <&3 >/dev/null 5>&- &`;
  // Without input the payload's stdin is /dev/null, and a simple command needs no subshell of its own.
  const run =
    inputLength > 0
      ? `{ head -c ${inputLength}; exec >&-; ${watchdog} } | {\n${payload}\n} 3<&- 2>&5 5>&-`
      : `${watchdog}\n${simple ? `{ ${payload}; }` : `(\n${payload}\n)`} </dev/null 3<&- 2>&5 5>&-`;
  return `kill -0 -$$ 2>/dev/null || { export RUNBOOK_SCRIPT="$s"; exec setsid -w sh -c 'eval "$RUNBOOK_SCRIPT"'; }
unset RUNBOOK_SCRIPT
[ "\${SHLVL:-0}" -ge 1 ] 2>/dev/null || export SHLVL=1
${preamble}
exec 3<&0 5>&2 2>/dev/null
echo ${BEGIN}
${run}
rc=$?
trap '' TERM
kill -TERM 0
{ sleep 2; kill -KILL 0; } </dev/null >/dev/null 3<&- 5>&- &
exit "$rc"
`;
}

export interface SessionRequest {
  script: string;
  input?: Buffer;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
  onData?: (which: 'out' | 'err', data: Buffer) => void;
}

export interface SessionEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the session failed because the connection is gone: ssh's reason. */
  connectionLost?: string;
}

const LOST_CHECK_MS = 200;

/** Runs a wrapped script in a session of its own; settles when the ssh client has exited. */
export async function runSession(ch: Channel, req: SessionRequest): Promise<SessionEnd> {
  const giveBack = await ch.takeSlot();
  try {
    return await startSession(ch, req);
  } finally {
    giveBack();
  }
}

function startSession(ch: Channel, req: SessionRequest): Promise<SessionEnd> {
  return new Promise((resolve, reject) => {
    const lost = ch.lost();
    if (lost !== undefined) {
      resolve({ exitCode: null, signal: null, connectionLost: lost });
      return;
    }
    if (req.signal?.aborted) {
      resolve({ exitCode: null, signal: null });
      return;
    }
    const child = spawn('ssh', ch.clientArgs(BOOTSTRAP_COMMAND), { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) req.onSpawn?.(child.pid);
    // On abort: EOF on the channel (the remote watchdog kills the group) and the client killed.
    const stopWatching = req.signal
      ? killGroupOnAbort(req.signal, () => {
          child.stdin!.destroy();
          return child.pid;
        })
      : () => {};
    let before: Buffer | undefined = Buffer.alloc(0);
    child.stdout!.on('data', (d: Buffer) => {
      if (before !== undefined) {
        before = Buffer.concat([before, d]);
        const at = before.indexOf(`${BEGIN}\n`);
        if (at < 0) return;
        d = before.subarray(at + BEGIN.length + 1);
        before = undefined;
        if (d.length === 0) return;
      }
      req.onData?.('out', d);
    });
    child.stderr!.on('data', (d: Buffer) => req.onData?.('err', d));
    child.stdin!.on('error', () => {});
    // The stdin stays open while the command runs: its EOF is the remote side's signal to die.
    child.stdin!.write(Buffer.concat([framed(req.script), req.input ?? Buffer.alloc(0)]));
    child.once('error', (error) => {
      stopWatching();
      reject(new StepFailedError(`${ch.host}: cannot start ssh: ${error.message}`));
    });
    child.once('close', (exitCode, signal) => {
      stopWatching();
      child.stdin!.destroy();
      if (exitCode !== 255) {
        resolve({ exitCode, signal });
        return;
      }
      // 255: ssh's own failure — or the command's exit code. The master tells which.
      const timer = setTimeout(() => resolve({ exitCode, signal, ...lostIf() }), LOST_CHECK_MS);
      void ch.masterExited.then(() => {
        clearTimeout(timer);
        resolve({ exitCode, signal, ...lostIf() });
      });
    });
    const lostIf = () => {
      const why = ch.lost();
      return why === undefined ? {} : { connectionLost: why };
    };
  });
}
