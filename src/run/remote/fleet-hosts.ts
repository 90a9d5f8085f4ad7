import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostLink } from '../executor.js';
import { HostUnreachableError } from './errors.js';
import type { HostLockRequest } from './host-lock.js';
import { connectHost, type HostConnection } from './ssh-target.js';

export interface OpenedHosts {
  /** Each host: connected (and locked), or why it could not be reached. */
  links: Map<string, HostLink | { unreachable: string }>;
  /** Ends every master (and with it every host lock) and removes the private control directory. */
  close(): Promise<void>;
}

/**
 * Connects to every host at once, each over its own multiplexed master in one private control
 * directory. A host that cannot be reached is reported as such (the rollout counts it failed);
 * a host locked by another run closes everything and throws (exit 4): nothing was changed.
 */
export async function openHosts(hosts: string[], options: { sshConfig?: string; lock: HostLockRequest | false; signal?: AbortSignal }): Promise<OpenedHosts> {
  const controlDir = mkdtempSync(join(tmpdir(), 'rb-ssh-'));
  const connections: HostConnection[] = [];
  const close = async () => {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    rmSync(controlDir, { recursive: true, force: true });
  };
  const links = new Map<string, HostLink | { unreachable: string }>();
  const results = await Promise.allSettled(
    hosts.map(async (host) => {
      const connection = await connectHost(host, { controlDir, lock: options.lock, ...(options.sshConfig ? { sshConfig: options.sshConfig } : {}), ...(options.signal ? { signal: options.signal } : {}) });
      connections.push(connection);
      links.set(host, { target: connection.target, workdir: await connection.target.workdir() });
    }),
  );
  const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof HostUnreachableError));
  if (refused) {
    await close();
    throw refused.reason;
  }
  for (const [i, r] of results.entries()) if (r.status === 'rejected') links.set(hosts[i]!, { unreachable: (r.reason as HostUnreachableError).message });
  return { links: new Map(hosts.map((h) => [h, links.get(h)!])), close };
}
