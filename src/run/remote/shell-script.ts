/**
 * The host side of a long-lived shell session: a POSIX sh loop, started once by the bootstrap
 * (the only thing on its command line), then fed request after request on the channel's stdin.
 *
 * A request is a header line `<kind> <lines> <input>` and that many lines of script:
 * - `x` (a step): the script is handed, with its input, to a new `sh` reading it from a pipe
 *   under util-linux `setsid` — a process group of its own, whose pid is the group's id. While
 *   it runs, a watcher reads the channel: `k` kills the group (TERM, KILL 2 s later), `.` (sent
 *   by us once we have the step's end) ends the watcher; EOF — our process or its ssh client
 *   died — kills the group and the session. When the step's leader has ended, what is left in
 *   its group gets TERM, and KILL after 2 s: the end is reported only once the group is empty,
 *   so nothing of a step can write after its end. `input` 1: one more line, the input in base64.
 * - `f` (a file operation): the script runs in a subshell of the session. `input`: how many
 *   bytes follow the script, read from the channel by `head -c` whatever the script does with
 *   them (its stdin is a pipe from that `head`), so a script that fails early leaves none behind.
 * `term` retries the TERM while the step's `setsid` has not made its group yet (an abort or an EOF
 * that comes right as the step starts must not be lost).
 * Each request ends with a marker on both streams — RS, the session's random nonce, and on
 *   stdout `:<exit code>` — written after everything of the request, so our side knows where
 *   the request's output ends on each stream. Nothing a step prints can forge it: the nonce
 *   lives only in this shell's memory (never in an environment, a file or a command line).
 * The session's own stderr (a shell reporting killed jobs) goes to /dev/null; fd 5 is the channel's.
 */
import { BOOTSTRAP, framed } from './bootstrap.js';

/** The record separator that starts each marker. */
export const MARK = 0x1e;

export function sessionScript(nonce: string): string {
  if (!/^[0-9a-f]{16,}$/.test(nonce)) throw new Error('the nonce must be hex');
  return `exec 3<&0 </dev/null 5>&2 2>/dev/null
[ "\${SHLVL:-0}" -ge 1 ] 2>/dev/null || export SHLVL=1
N=${nonce}
B='${BOOTSTRAP}'
nl='
'
end() { printf '\\036%s\\n' "$N" >&5; printf '\\036%s:%s\\n' "$N" "$1"; }
term() {
  a=0
  until kill -TERM -$p || ! kill -0 $p || [ $a = 100 ]; do a=$((a+1)); sleep 0.01; done
}
watch() {
  z=
  while IFS= read -r m; do
    case $m in
    .) [ -z "$z" ] || kill $z; exit 0 ;;
    k) term; { sleep 2; kill -KILL -$p; } & z=$! ;;
    esac
  done
  term; kill -TERM $$; sleep 2; kill -KILL -$p
}
sweep() {
  kill -TERM -$1 || return 0
  t=0
  while kill -0 -$1; do
    t=$((t+1)); [ $t = 40 ] && kill -KILL -$1; [ $t -ge 60 ] && return 0; sleep 0.05
  done
}
end 0
while IFS= read -r h <&3; do
  set -- $h
  case $1 in x|f) ;; *) continue ;; esac
  k=$2; s=
  while [ "$k" -gt 0 ] && IFS= read -r l <&3; do s="$s$l$nl"; k=$((k-1)); done
  [ "$k" = 0 ] || exit 0
  case $1 in
  x)
    i=; [ "$3" = 0 ] || IFS= read -r i <&3 || exit 0
    { printf '%s\\n%s' "$2" "$s"; [ -z "$i" ] || printf '%s' "$i" | base64 -d; } | setsid sh -c "$B" 2>&5 3<&- 5>&- &
    p=$!
    watch <&3 >/dev/null 5>&- &
    r=$!
    wait $p; c=$?
    sweep $p
    end $c
    wait $r ;;
  f)
    if [ "$3" = 0 ]; then (eval "$s") 2>&5 3<&-
    else head -c "$3" <&3 | { (eval "$s"); c=$?; cat >/dev/null; exit $c; } 2>&5 3<&-; fi
    end $? ;;
  esac
done
`;
}

/** A step: its script (exports, cd, the command) and input, for the session's `x`. */
export function stepRequest(script: string, input: Buffer): Buffer {
  const body = framed(script);
  const lines = body.subarray(body.indexOf(10) + 1);
  const count = body.subarray(0, body.indexOf(10)).toString();
  const head = `x ${count} ${input.length > 0 ? 1 : 0}\n`;
  return Buffer.concat([Buffer.from(head), lines, input.length > 0 ? Buffer.from(`${input.toString('base64')}\n`) : Buffer.alloc(0)]);
}

/** A file operation: a script run in a subshell of the session, reading `input` (if any) itself from stdin. */
export function fileRequest(script: string, input?: Buffer): Buffer {
  const body = framed(script);
  const count = body.subarray(0, body.indexOf(10)).toString();
  return Buffer.concat([Buffer.from(`f ${count} ${input?.length ?? 0}\n`), body.subarray(body.indexOf(10) + 1), input ?? Buffer.alloc(0)]);
}
