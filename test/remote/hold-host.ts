/**
 * A control node to kill: connects to a host (taking its lock), starts `sleep 300` there and
 * prints `running <ssh client pid> <master pid>`, then waits to be killed.
 * Usage: node --import tsx hold-host.ts <ssh_config> <control dir> <host>
 */
import { connectHost } from '../../src/run/remote/ssh-target.js';

const [sshConfig, controlDir, host] = process.argv.slice(2) as [string, string, string];
const connection = await connectHost(host, { sshConfig, controlDir, lock: { runId: 'killed-run', user: 'tester', host: 'control', pid: process.pid, command: 'hold-host' } });
void connection.target.exec({
  command: 'sleep 300',
  cwd: '/',
  env: {},
  signal: new AbortController().signal,
  onSpawn: (pid) => process.stdout.write(`running ${pid} ${connection.masterPid}\n`),
});
