/**
 * The only thing that ever appears on a host's command line: a fixed bootstrap that reads
 * one line (how many lines the script has), then those lines — with the shell's own `read`,
 * which never reads past a line, so no process is started for it — and evaluates them. The
 * newline between lines is taken from the shell's default IFS (space, tab, newline).
 * Everything with data in it — paths, commands, environment values, secrets — travels inside
 * that script, on stdin; `ps` shows only this.
 */
export const BOOTSTRAP = `IFS= read -r k && s= && while [ "$k" -gt 0 ] && IFS= read -r l; do s="$s$l\${IFS#??}"; k=$((k-1)); done && eval "$s"`;

/** The command line of a session: `sh -c '<bootstrap>'`. */
export const BOOTSTRAP_COMMAND = `sh -c '${BOOTSTRAP}'`;

/** What to write first on the session's stdin. */
export function framed(script: string): Buffer {
  if (script.includes('\0')) throw new Error('a NUL byte cannot be passed to a shell');
  const lines = script.endsWith('\n') ? script : `${script}\n`;
  return Buffer.from(`${lines.split('\n').length - 1}\n${lines}`, 'utf8');
}
