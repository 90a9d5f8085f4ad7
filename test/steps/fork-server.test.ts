import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { runLocally } from '../../src/steps/kit/fork-server.js';
import type { ProcessRequest } from '../../src/steps/kit/target.js';
import { pidAlive, processStartTime } from '../../src/support/process-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-fork-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function request(over: Partial<ProcessRequest>): ProcessRequest {
  return { cwd: dir, env: process.env, signal: new AbortController().signal, capture: true, ...over };
}

/** The pids of this machine's processes whose parent is `ppid` and whose name is `comm`. */
function childrenOf(ppid: number, comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === comm && Number(fields[1]) === ppid ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

describe('commands started by the fork server', () => {
  it('report the exact exit code, and a signal as a signal: exit 143 is not SIGTERM', async () => {
    const exited = await runLocally(request({ command: 'exit 143' }));
    expect([exited.exitCode, exited.signal]).toEqual([143, null]);
    const killed = await runLocally(request({ command: 'kill -TERM $$' }));
    expect([killed.exitCode, killed.signal]).toEqual([null, 'SIGTERM']);
    const segv = await runLocally(request({ argv: ['bash', '-c', 'kill -SEGV $$'] }));
    expect([segv.exitCode, segv.signal]).toEqual([null, 'SIGSEGV']);
  });

  it('run each in a session and process group of its own, with the pid and its start time told to onSpawn', async () => {
    const pids: number[] = [];
    const r = await runLocally(
      request({
        command: 'echo $$ $(ps -o pgid= -o sid= -p $$)',
        onSpawn: (pid, startTime) => {
          pids.push(pid);
          expect(startTime).toBe(processStartTime(pid));
        },
      }),
    );
    const [pid, pgid, sid] = r.stdout.trim().split(/\s+/).map(Number);
    expect(pids).toEqual([pid]);
    expect([pgid, sid]).toEqual([pid, pid]);
  });

  it('do nothing before onSpawn has journaled the pid, and nothing at all when it fails', async () => {
    const marker = join(dir, 'ran');
    const r = await runLocally(
      request({
        command: `touch ${marker}`,
        onSpawn: async () => {
          await sleep(300);
          expect(existsSync(marker)).toBe(false);
        },
      }),
    );
    expect(r.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    await expect(
      runLocally(
        request({
          command: `touch ${marker}`,
          onSpawn: () => Promise.reject(new Error('no space left on device')),
        }),
      ),
    ).rejects.toThrow('the command was not run: no space left on device');
    await sleep(100);
    expect(existsSync(marker)).toBe(false);
  });

  it('get exactly the environment asked for, values with =, spaces and newlines intact; PERL5OPT does not reach the server', async () => {
    const env = { PATH: process.env.PATH, ODD: 'a=b c\nd', PERL5OPT: '-Mno_such_module' };
    const r = await runLocally(request({ argv: ['env', '-0'], env }));
    expect(r.exitCode).toBe(0);
    const seen = r.stdout.split('\0').filter(Boolean).sort();
    expect(seen).toEqual(['ODD=a=b c\nd', `PATH=${process.env.PATH}`, 'PERL5OPT=-Mno_such_module']);
    const cwd = await runLocally(request({ command: 'pwd', cwd: '/usr' }));
    expect(cwd.stdout).toBe('/usr\n');
  });

  it('stream stdout and stderr apart and live, before the command ends', async () => {
    const chunks: { at: number; chunk: string }[] = [];
    const started = performance.now();
    const r = await runLocally(request({ command: 'echo out; echo err >&2; sleep 1; echo done', onOutput: (chunk) => chunks.push({ at: performance.now() - started, chunk }) }));
    expect([r.stdout, r.stderr]).toEqual(['out\ndone\n', 'err\n']);
    expect(chunks[0]!.at).toBeLessThan(800);
  });

  it('pass secrets through the environment only: no command line on this machine holds them while it runs', async () => {
    const secret = 'S3cret-fork-server-value';
    const running = runLocally(request({ command: 'sleep 0.5; printenv TOKEN', env: { ...process.env, TOKEN: secret } }));
    await sleep(200);
    const lines = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, 'latin1');
        } catch {
          return '';
        }
      });
    expect(lines.some((l) => l.includes(secret))).toBe(false);
    expect((await running).stdout).toBe(`${secret}\n`);
  });

  it('say "command not found" for a missing program, and run two at once (the second without the server)', async () => {
    await expect(runLocally(request({ argv: ['no-such-program-runbook-fs'] }))).rejects.toThrow('command not found: no-such-program-runbook-fs');
    const [a, b] = await Promise.all([runLocally(request({ command: 'sleep 0.2; echo a' })), runLocally(request({ command: 'echo b' }))]);
    expect([a.stdout, b.stdout]).toEqual(['a\n', 'b\n']);
  });

  it('the server dies with runbook (kill -9), and a child forked ahead runs nothing', async () => {
    const script = `import { runLocally } from ${JSON.stringify(resolve('src/steps/kit/fork-server.ts'))};
      await runLocally({ command: 'true', cwd: '/', env: process.env, signal: new AbortController().signal });
      process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((done) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && done()));
    const [server] = childrenOf(child.pid!, 'perl');
    expect(server).toBeDefined();
    const [ahead] = childrenOf(server!, 'perl');
    expect(ahead).toBeDefined();
    child.kill('SIGKILL');
    for (let i = 0; i < 40 && (pidAlive(server!) || pidAlive(ahead!)); i++) await sleep(50);
    expect([pidAlive(server!), pidAlive(ahead!)]).toEqual([false, false]);
  });
});
