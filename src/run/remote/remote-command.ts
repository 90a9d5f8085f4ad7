/**
 * Target.exec on a host: a step's command (bash -o pipefail when the host has bash, else sh)
 * or argv, in `cwd`, with the step's variables exported by its script — sent over a shell
 * session's stdin, never on a command line — in a process group of its own (shell-script.ts),
 * output streamed, its tail kept: the same ProcessResult as runProcess.
 */
import { StepFailedError } from '../../steps/contract.js';
import { OutputCollector } from '../../steps/kit/output-collector.js';
import { abortError, commandText } from '../../steps/kit/process.js';
import type { ProcessRequest, ProcessResult } from '../../steps/kit/target.js';
import type { Channel } from './channel.js';
import { isEnvName, shellQuote } from './shell-quote.js';

/** `export NAME='value'` lines for what the step adds to the login environment. */
export function exports(host: string, env: Record<string, string | undefined>): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (!isEnvName(name)) throw new StepFailedError(`${host}: cannot pass the environment variable ${JSON.stringify(name)} to a host: not a valid name`);
    if (value.includes('\0')) throw new StepFailedError(`${host}: the environment variable ${name} holds a NUL byte, which no host can receive`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  return lines.join('\n');
}

/** What the step's group leader execs (the command's bash is its process group's leader). */
function payloadOf(ch: Channel, req: ProcessRequest): string {
  if (req.command !== undefined) return ch.bash ? `${shellQuote(ch.bash)} -o pipefail -c ${shellQuote(req.command)}` : `sh -c ${shellQuote(req.command)}`;
  if (!req.argv?.length) throw new StepFailedError(`${ch.host}: nothing to run`);
  return req.argv.map(shellQuote).join(' ');
}

export async function remoteExec(ch: Channel, req: ProcessRequest): Promise<ProcessResult> {
  const shown = commandText(req);
  if (req.signal.aborted) throw abortError(req.signal, shown, '');
  const script = [exports(ch.host, req.env), `cd -- ${shellQuote(req.cwd)} || exit 1`, `exec ${payloadOf(ch, req)}`].join('\n');
  const output = new OutputCollector(req);
  const end = await ch.run({
    kind: 'step',
    script,
    input: Buffer.from(req.input ?? '', 'utf8'),
    signal: req.signal,
    ...(req.onSpawn ? { onSpawn: req.onSpawn } : {}),
    onData: (which, data) => output.push(which, data),
  });
  if (req.signal.aborted) throw abortError(req.signal, shown, output.tail.toString());
  if (end.connectionLost !== undefined) {
    throw new StepFailedError(`${ch.host}: connection lost: ${end.connectionLost}`, { command: shown, exitCode: null, outputTail: output.tail.toString() });
  }
  return { exitCode: end.exitCode, signal: end.signal, stdout: output.stdout, stderr: output.stderr, tail: output.tail.toString() };
}
