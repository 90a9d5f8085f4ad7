import { spawn } from 'node:child_process';
import { cliPath, repoRoot } from './cli.js';
import { backendArgs } from './state-backend.js';

/**
 * The CLI on a real pseudo-terminal (util-linux `script`), as an operator at a console runs
 * it: listr2 progress, and Ctrl-C typed on the terminal (`ctrlC`) reaches the foreground
 * process group through the line discipline, exactly as from a keyboard. With the leg's state
 * backend, as runCli (state-backend.ts).
 */
export function startInTerminal(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, TERM: 'xterm-256color' };
  delete env.CI;
  const { extra, call } = backendArgs(args, { cwd: repoRoot, env: opts.env });
  const quoted = [process.execPath, cliPath, ...args, ...extra].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', `stty cols 120 rows 40; exec ${quoted}`, '/dev/null'], { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  const done = new Promise<{ code: number | null; screen: string }>((resolve) =>
    child.on('close', (code) => {
      if (call) call.code = code;
      resolve({ code, screen });
    }),
  );
  return {
    child,
    done,
    screen: () => screen,
    ctrlC: () => child.stdin.write('\x03'),
    type: (text: string) => child.stdin.write(text),
  };
}
