/**
 * The command lines of the system OpenSSH client: one master per host, and clients that only
 * ever ride on it. Options given here win over the user's ssh_config (ssh takes the first value
 * it sees, and the command line comes first); nothing here weakens host-key checking.
 */
export interface SshOptions {
  /** Passed as `-F`: the user's ssh_config otherwise. */
  sshConfig?: string;
  /** The master's control socket. */
  controlPath: string;
  connectTimeoutMs: number;
}

/** Seconds between keep-alives, and how many unanswered ones make a host dead. */
export const SERVER_ALIVE_INTERVAL_S = 5;
export const SERVER_ALIVE_COUNT_MAX = 3;

function common(o: SshOptions): string[] {
  return [
    ...(o.sshConfig ? ['-F', o.sshConfig] : []),
    '-T',
    '-S',
    o.controlPath,
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${Math.max(1, Math.ceil(o.connectTimeoutMs / 1000))}`,
    '-o',
    `ServerAliveInterval=${SERVER_ALIVE_INTERVAL_S}`,
    '-o',
    `ServerAliveCountMax=${SERVER_ALIVE_COUNT_MAX}`,
  ];
}

/** A destination ssh must never read as an option. */
export function checkDestination(host: string): void {
  if (host === '' || host.startsWith('-') || /[\s\0]/.test(host)) throw new Error(`not an ssh destination: ${JSON.stringify(host)}`);
}

/** The master: it owns the connection; its primary session runs `command` (kept alive by our stdin). */
export function masterArgs(host: string, o: SshOptions, command: string): string[] {
  // INFO: ssh's reason for giving a connection up ("Timeout, server … not responding.") is logged at that level.
  return [...common(o), '-M', '-o', 'ControlPersist=no', '-o', 'LogLevel=INFO', '--', host, command];
}

/**
 * A client multiplexed over the master. Should the master be gone, it must not open a
 * connection of its own (that one would hold no host lock): ProxyCommand=false makes that
 * fallback fail at once.
 */
export function clientArgs(host: string, o: SshOptions, command: string): string[] {
  return [...common(o), '-o', 'ControlMaster=no', '-o', 'ProxyCommand=false', '-o', 'LogLevel=ERROR', '--', host, command];
}

/** `ssh -O forward|cancel -L 127.0.0.1:PORT:TO` to the master (PORT 0: ssh picks one and prints it). */
export function forwardArgs(host: string, o: SshOptions, op: 'forward' | 'cancel', spec: string): string[] {
  return [...(o.sshConfig ? ['-F', o.sshConfig] : []), '-S', o.controlPath, '-o', 'LogLevel=ERROR', '-O', op, '-L', spec, '--', host];
}

/** `ssh -O <op>` to the master (exit, check). */
export function controlArgs(host: string, o: SshOptions, op: 'exit' | 'check'): string[] {
  return [...(o.sshConfig ? ['-F', o.sshConfig] : []), '-S', o.controlPath, '-o', 'LogLevel=ERROR', '-O', op, '--', host];
}
