/**
 * `npm run fleet -- up [N] | status | down`: N real sshd hosts (default 4) on 127.0.0.100…,
 * each in its own namespaces (tools/ssh-hosts.ts), kept until `down`, to try runbooks against
 * by hand: `ssh -F .fleet/ssh_config host-1`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshHosts, stopSshHostsAt, type TestHost } from './ssh-hosts.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const dir = resolve(process.env.FLEET_DIR ?? join(root, '.fleet'));
const config = relative(process.cwd(), join(dir, 'ssh_config'));

async function main([command, count]: string[]): Promise<number> {
  switch (command) {
    case 'up': {
      const n = Number(count ?? 4);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('usage: npm run fleet -- up [N], N from 1 to 64');
      // From 127.0.0.100: the suite's own hosts start at 127.0.0.12, and both may be up at once.
      const fleet = await startSshHosts(Array.from({ length: n }, (_, i) => `host-${i + 1}`), { dir, firstOctet: 100 });
      for (const h of fleet.hosts) process.stdout.write(`${h.name.padEnd(8)} ${h.address}:22\n`);
      process.stdout.write(`\nssh -F ${config} host-1        # each host has its own /srv, /root and crontab\nnpm run fleet -- down\n`);
      return 0;
    }
    case 'status': {
      if (!existsSync(join(dir, 'fleet.json'))) {
        process.stdout.write(`no fleet is up (${dir})\n`);
        return 3;
      }
      const { hosts } = JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')) as { hosts: TestHost[] };
      process.stdout.write(`${hosts.map((h) => `${h.name.padEnd(8)} ${h.address}:22`).join('\n')}\nssh -F ${config} <host>\n`);
      return 0;
    }
    case 'down':
      process.stdout.write(stopSshHostsAt(dir) ? 'fleet stopped and removed\n' : 'no fleet was up\n');
      return 0;
    default:
      process.stderr.write('usage: npm run fleet -- up [N] | status | down\n');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`fleet: ${error.message}\n`);
    process.exitCode = 1;
  },
);
