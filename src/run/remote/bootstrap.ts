/**
 * The only thing that ever appears on a host's command line: a fixed bootstrap that reads
 * one line (the script's length in bytes), then exactly that many bytes (GNU `head -c` never
 * reads past them), and evaluates them. Everything with data in it — paths, commands,
 * environment values, secrets — travels inside that script, on stdin; `ps` shows only this.
 */
export const BOOTSTRAP = `IFS= read -r n && s=$(head -c "$n") && eval "$s"`;

/** The command line of a session: `sh -c '<bootstrap>'`. */
export const BOOTSTRAP_COMMAND = `sh -c '${BOOTSTRAP}'`;

/** What to write first on the session's stdin. */
export function framed(script: string): Buffer {
  const body = Buffer.from(script, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}
