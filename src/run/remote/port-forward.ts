import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { StepFailedError } from '../../steps/contract.js';
import { forwardArgs, type SshOptions } from './ssh-options.js';

const run = promisify(execFile);

/** A port nothing listens on now (the kernel's pick), for ssh to bind: ssh's `-O forward` cannot pick one itself. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A local port on 127.0.0.1 that reaches `to` (`host:port`, or a unix socket path) as the host
 * sees it, over the host's master (`ssh -O forward -L 127.0.0.1:PORT:TO`): nothing opens on the
 * host but the channel, and the service can stay bound to the host's loopback or a socket.
 */
export async function forwardPort(host: string, o: SshOptions, to: string): Promise<{ port: number; close(): Promise<void> }> {
  if (/[\s\0]/.test(to) || to.startsWith('-')) throw new StepFailedError(`${host}: cannot forward to ${JSON.stringify(to)}`);
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await run('ssh', forwardArgs(host, o, 'forward', `127.0.0.1:${port}:${to}`), { timeout: 10_000 });
      break;
    } catch (error) {
      const said = ((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').at(-1);
      // Someone took the port between our pick and ssh's bind: pick again.
      if (attempt < 3 && /forwarding failed|in use/i.test(said ?? '')) continue;
      throw new StepFailedError(`${host}: cannot forward a local port to ${to} on the host: ${said}`);
    }
  }
  return {
    port,
    close: async () => {
      await run('ssh', forwardArgs(host, o, 'cancel', `127.0.0.1:${port}:${to}`), { timeout: 10_000 }).catch(() => undefined);
    },
  };
}
