#!/usr/bin/env node
// The one prerequisite step: checks the system tools an entry point needs and, when some are
// missing, installs them with apt-get (as root, or through `sudo -n`), one line saying what and
// why. Used by `npm run demo`, `npm run sandbox`, `npm test` (pretest) and the suite's global
// setup (`--check`: never installs). Plain JavaScript with no dependencies: it runs before the
// build, and must answer in well under a second when everything is there.
//
//   node scripts/prerequisites.mjs <demo|compose|test> [--check]
//
// RUNBOOK_NO_INSTALL=1: never install anything; a missing tool is exit 2 with the command to run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PG_ROOT = '/usr/lib/postgresql';

/** The newest /usr/lib/postgresql/N/bin holding a server (or RUNBOOK_PG_BIN), as tools/pg-cluster.ts picks it. */
function pgBinDir() {
  if (process.env.RUNBOOK_PG_BIN) return process.env.RUNBOOK_PG_BIN;
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(PG_ROOT, versions[0], 'bin') : undefined;
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Like `command -v`; also looks in the sbin directories a non-root PATH often lacks. */
function onPath(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((dir) => dir && executable(join(dir, name)));
}

function userExists(name) {
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n').some((line) => line.startsWith(`${name}:`));
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;

/**
 * What an entry point may need: how to tell it is there, the Debian package that brings it,
 * why we need it, and what to install on other systems.
 */
const TOOLS = {
  'postgresql-server': {
    present: () => pgBinDir() !== undefined,
    package: () => 'postgresql',
    why: 'the sandbox and the tests start a throwaway PostgreSQL cluster',
    elsewhere: 'macOS: brew install postgresql@15 and set RUNBOOK_PG_BIN to its bin directory',
  },
  'postgresql-client': {
    // pg_dump, psql and pg_isready of the server's own version: the backup dumps with them.
    present: () => ['pg_dump', 'psql', 'pg_isready'].every((tool) => executable(join(pgBinDir() ?? '/nonexistent', tool))),
    package: () => `postgresql-client-${(pgBinDir() ?? '').split('/').at(-2) || '15'}`,
    why: "the backup's pg_dump must match the server's version",
    elsewhere: 'it comes with the server package on other systems',
  },
  'postgres-user': {
    present: () => !isRoot || userExists('postgres'),
    package: () => 'postgresql-common',
    why: 'initdb refuses root, so as root the throwaway clusters run as the postgres user',
    elsewhere: 'run as an ordinary user instead of root',
  },
  crontab: { present: () => onPath('crontab'), package: () => 'cron', why: "change 1 of Phase 1 is a nightly backup in the crontab", elsewhere: 'macOS has crontab' },
  git: { present: () => onPath('git'), package: () => 'git', why: 'the checkpoint before the changes is a git commit', elsewhere: 'any git' },
  gzip: { present: () => onPath('gzip'), package: () => 'gzip', why: 'the backup compresses its dump', elsewhere: 'any gzip' },
  flock: { present: () => onPath('flock'), package: () => 'util-linux', why: 'the backup takes a lock so two runs never overlap', elsewhere: 'macOS: brew install flock' },
  runuser: { present: () => !isRoot || onPath('runuser'), package: () => 'util-linux', why: 'as root, the clusters are started as the postgres user', elsewhere: 'run as an ordinary user' },
  script: { present: () => onPath('script'), package: () => 'bsdutils', why: 'the terminal tests run the CLI on a real pseudo-terminal', elsewhere: 'util-linux script' },
  perl: { present: () => onPath('perl'), package: () => 'perl-base', why: 'a test step is a perl process that ignores signals', elsewhere: 'any perl 5' },
  pgrep: { present: () => onPath('pgrep') && onPath('pkill'), package: () => 'procps', why: 'the interrupt tests look for orphaned steps by process', elsewhere: 'procps' },
  ssh: { present: () => onPath('ssh') && onPath('ssh-keygen'), package: () => 'openssh-client', why: 'remote hosts are reached with the system OpenSSH client', elsewhere: 'any OpenSSH client' },
  sshd: { present: () => onPath('sshd'), package: () => 'openssh-server', why: 'the fleet demo and tests run real sshd hosts on 127.0.0.N', elsewhere: 'Linux only (network and mount namespaces)' },
  unshare: { present: () => onPath('unshare'), package: () => 'util-linux', why: 'each test host runs in its own pid and mount namespace', elsewhere: 'Linux only' },
  // The compose sandbox: a Docker engine of its own (data root, socket and pid file in a temp
  // dir, no bridge, no iptables) and compose v1; docker.io also brings containerd, runc and
  // docker-init (tini, for `init: true`). Its own client, /usr/bin/docker, matches the daemon.
  dockerd: { present: () => onPath('dockerd') && executable('/usr/bin/docker'), package: () => 'docker.io', why: 'the compose sandbox runs the seed\'s services on a Docker engine of its own', elsewhere: 'Docker Engine (dockerd) with its docker CLI' },
  'docker-compose': {
    present: () => onPath('docker-compose') || spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0,
    package: () => 'docker-compose',
    why: 'the compose sandbox and its runbook vars run docker compose / docker-compose',
    elsewhere: 'the docker compose plugin (v2) or docker-compose (v1)',
  },
  chromium: { present: () => onPath('chromium'), package: () => 'chromium', why: 'the HTML report test opens the report in headless Chromium and takes a screenshot', elsewhere: 'any Chromium or Chrome as chromium on PATH' },
  xmllint: { present: () => onPath('xmllint'), package: () => 'libxml2-utils', why: 'the JUnit report test validates against an XSD with xmllint --schema', elsewhere: 'macOS has xmllint' },
};

const PROFILES = {
  demo: ['postgresql-server', 'postgresql-client', 'postgres-user', 'runuser', 'crontab', 'git', 'gzip', 'flock'],
  fleet: ['ssh', 'sshd', 'unshare', 'crontab'],
  test: ['postgresql-server', 'postgresql-client', 'postgres-user', 'runuser', 'crontab', 'git', 'gzip', 'flock', 'script', 'perl', 'pgrep', 'ssh', 'sshd', 'unshare', 'dockerd', 'docker-compose', 'xmllint', 'chromium'],
  compose: ['postgresql-server', 'postgresql-client', 'postgres-user', 'runuser', 'crontab', 'git', 'gzip', 'flock', 'dockerd', 'docker-compose'],
};

function say(line) {
  process.stderr.write(`prerequisites: ${line}\n`);
}

/** `sudo -n true` works: we may install without asking for a password. */
function sudoWorks() {
  return onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
}

function aptInstall(prefix, packages) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const [command, ...before] = [...prefix, 'apt-get'];
  // Another apt-get (an unattended upgrade, a parallel job) holds the dpkg lock: wait for it.
  const run = (args) => spawnSync(command, [...before, '-o', 'DPkg::Lock::Timeout=300', ...args], { env, encoding: 'utf8' });
  const install = () => run(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  const hasLists = existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
  if (hasLists) {
    const first = install();
    if (first.status === 0) return first;
  }
  // No package lists yet, or they are stale (a package not found): refresh them once.
  const update = run(['update', '-qq']);
  if (update.status !== 0) return update;
  return install();
}

function installCommand(packages) {
  return `${isRoot ? '' : 'sudo '}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

function main(argv) {
  const profileName = argv.find((a) => !a.startsWith('-'));
  const checkOnly = argv.includes('--check');
  const profile = PROFILES[profileName];
  if (!profile) {
    say(`usage: node scripts/prerequisites.mjs <${Object.keys(PROFILES).join('|')}> [--check]`);
    return 2;
  }
  const missing = profile.filter((name) => !TOOLS[name].present());
  if (missing.length === 0) return 0;

  const packages = [...new Set(missing.map((name) => TOOLS[name].package()))];
  const what = missing.map((name) => `${name} (${TOOLS[name].why})`).join('; ');
  const optedOut = Boolean(process.env.RUNBOOK_NO_INSTALL && process.env.RUNBOOK_NO_INSTALL !== '0');
  const apt = onPath('apt-get');
  const prefix = isRoot ? [] : sudoWorks() ? ['sudo', '-n'] : undefined;
  if (checkOnly || optedOut || !apt || !prefix) {
    say(`missing for ${profileName}: ${what}`);
    if (apt) say(`install with: ${installCommand(packages)}`);
    else for (const name of missing) say(`  ${name}: ${TOOLS[name].elsewhere}`);
    const reason = checkOnly ? '`npm test` installs these itself' : optedOut ? 'RUNBOOK_NO_INSTALL is set' : !apt ? 'not a Debian/Ubuntu system' : 'not root and `sudo -n` is not allowed';
    say(`nothing was installed (${reason})`);
    return 2;
  }
  const started = Date.now();
  say(`installing ${packages.join(' ')} with apt-get for ${profileName}: ${what} (set RUNBOOK_NO_INSTALL=1 to never install)`);
  const result = aptInstall(prefix, packages);
  const still = profile.filter((name) => !TOOLS[name].present());
  if (result.status !== 0 || still.length) {
    const tail = `${result.stderr ?? ''}${result.stdout ?? ''}${result.error ? String(result.error) : ''}`.trim().split('\n').slice(-5).join('\n  ');
    say(`apt-get could not install ${packages.join(' ')} (exit ${result.status}):\n  ${tail}`);
    say(`install by hand with: ${installCommand(packages)}`);
    return 2;
  }
  say(`installed ${packages.join(' ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
