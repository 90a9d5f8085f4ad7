import { spawn } from 'node:child_process';
import { StepFailedError } from '../contract.js';
import { OutputCollector } from './output-collector.js';
import { killGroup, killGroupOnAbort } from './process-group.js';
import type { ProcessRequest, ProcessResult } from './target.js';

export type { ProcessRequest, ProcessResult } from './target.js';

const OUTPUT_GRACE_MS = 250;

/** How a command is shown in messages: `shown` when the command has one (values quoted for reading). */
export function commandText(req: Pick<ProcessRequest, 'command' | 'argv'> & { shown?: string }): string {
  return req.shown ?? req.command ?? (req.argv ?? []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/**
 * Runs one command in its own process group (so a timeout or an interrupt kills everything
 * it started). node:child_process rather than execa: this is the per-step hot path.
 */
export function runProcess(req: ProcessRequest): Promise<ProcessResult> {
  const [file, args] = req.command !== undefined ? ['/bin/bash', ['-o', 'pipefail', '-c', req.command]] : [req.argv![0]!, req.argv!.slice(1)];
  const shown = commandText(req);
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) {
      reject(abortError(req.signal, shown, ''));
      return;
    }
    const output = new OutputCollector(req);
    const child = spawn(file, args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: [req.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stopWatching = killGroupOnAbort(req.signal, () => child.pid);
    if (child.pid !== undefined) req.onSpawn?.(child.pid);
    child.stdout!.on('data', (data: Buffer) => output.push('out', data));
    child.stderr!.on('data', (data: Buffer) => output.push('err', data));
    if (req.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(req.input);
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopWatching();
      const reason = error.code === 'ENOENT' ? `command not found: ${file}` : error.message;
      reject(new StepFailedError(reason, { command: shown, exitCode: null, outputTail: output.tail.toString() }));
    });
    // A command that starts something in the background (`server &`) exits while the
    // background process still holds its output open: stop waiting for that output shortly
    // after the command itself has exited, instead of hanging until the timeout.
    let settled = false;
    child.on('exit', () => {
      setTimeout(() => {
        if (settled) return;
        child.stdout!.destroy();
        child.stderr!.destroy();
        child.emit('close', child.exitCode, child.signalCode);
      }, OUTPUT_GRACE_MS).unref();
    });
    child.on('close', (exitCode, signal) => {
      if (settled) return;
      settled = true;
      stopWatching();
      if (req.signal.aborted) {
        // The leader exited; make sure nothing of its group lingers.
        killGroup(child.pid, 'SIGKILL');
        reject(abortError(req.signal, shown, output.tail.toString()));
        return;
      }
      resolve({ exitCode, signal, stdout: output.stdout, stderr: output.stderr, tail: output.tail.toString() });
    });
  });
}

/** The error of a command stopped by `signal` (a timeout or an interrupt). */
export function abortError(signal: AbortSignal, command: string, outputTail: string): StepFailedError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new StepFailedError(reason, { command, exitCode: null, outputTail, timedOut: /timed out/.test(reason) });
}
