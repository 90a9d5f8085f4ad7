import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
beforeAll(async () => {
  fleet = await startSshHosts(['web-1', 'web-2', 'db-1']);
});
afterAll(() => fleet?.stop());

describe('the test fleet: real sshd hosts on 127.0.0.N', () => {
  it('each host answers over the system ssh client as itself, on its own loopback address', () => {
    for (const [i, h] of fleet.hosts.entries()) {
      expect(h.address).toBe(`127.0.0.${12 + i}`);
      const r = fleet.ssh(h.name, 'hostname; echo "$SSH_CONNECTION"');
      expect(r.status, r.stderr).toBe(0);
      const [hostname, connection] = r.stdout.trim().split('\n');
      expect(hostname).toBe(h.name);
      expect(connection).toMatch(new RegExp(` ${h.address.replaceAll('.', '\\.')} 22$`));
    }
  });

  it("what a step changes on one host is seen on no other host, nor on this machine: /srv, root's home, the crontab", () => {
    const marker = `/srv/marker-${process.pid}`;
    expect(fleet.ssh('web-1', `echo one > ${marker} && echo '0 3 * * * true # only-web-1' | crontab -`).status).toBe(0);
    expect(fleet.ssh('web-1', `cat ${marker}; crontab -l`).stdout).toContain('only-web-1');
    const other = fleet.ssh('web-2', `test -e ${marker}; echo $?; crontab -l 2>&1`);
    expect(other.stdout).toMatch(/^1\n/);
    expect(other.stdout).not.toContain('only-web-1');
    expect(existsSync(marker)).toBe(false);
    expect(spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stdout).not.toContain('only-web-1');
  });

  it('an unknown host key is refused: strict checking stays on', () => {
    const r = spawnSync('ssh', ['-F', fleet.sshConfig, '-o', 'ControlPath=none', '-o', 'UserKnownHostsFile=/dev/null', 'web-1', 'true'], { encoding: 'utf8' });
    expect(r.status).toBe(255);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  it('stopping the fleet leaves no sshd or namespace behind', async () => {
    const extra = await startSshHosts(['tmp-1'], { firstOctet: 40 });
    expect(extra.ssh('tmp-1', 'true').status).toBe(0);
    extra.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(spawnSync('pgrep', ['-f', 'runbook-ssh-.*/tmp-1/'], { encoding: 'utf8' }).stdout).toBe('');
    const r = spawnSync('ssh', ['-F', fleet.sshConfig, '-o', 'ControlPath=none', '-o', 'HostName=127.0.0.40', 'web-1', 'true'], { encoding: 'utf8' });
    expect(r.status).toBe(255);
  });
});
