import type { StepContext, StepOutcome, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { killGroupOnAbort } from './kit/process-group.js';

/** Which compose runs: the v2 plugin (`docker compose`), v1 (`docker-compose`), or whichever is installed. */
export type ComposeCli = 'auto' | 'docker compose' | 'docker-compose';

export interface ComposeParams {
  action: 'restart' | 'build' | 'up' | 'logs';
  services: string[];
  dir: string;
  file?: string;
  project?: string;
  tail?: number;
  /** With up: --force-recreate. */
  recreate?: boolean;
  cli: ComposeCli;
}

/** compose's own arguments (after `docker compose` or `docker-compose`). */
function composeArgs(p: ComposeParams): string[] {
  const head = [...(p.file ? ['-f', p.file] : []), ...(p.project ? ['-p', p.project] : [])];
  switch (p.action) {
    case 'up':
      return [...head, 'up', '-d', ...(p.recreate ? ['--force-recreate'] : []), ...p.services];
    case 'logs':
      return [...head, 'logs', '--no-color', '--tail', String(p.tail ?? 50), ...p.services];
    default:
      return [...head, p.action, ...p.services];
  }
}

/** The program and its leading argument for a concrete cli. */
const program = (cli: Exclude<ComposeCli, 'auto'>): [string, string[]] => (cli === 'docker-compose' ? ['docker-compose', []] : ['docker', ['compose']]);

type Run = (file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }) => Promise<{ exitCode?: number; failed: boolean; code?: string }>;

/** What `auto` found, per PATH (one probe per process). */
const detected = new Map<string, Promise<Exclude<ComposeCli, 'auto'> | undefined>>();

/**
 * `docker compose` when the docker CLI answers `docker compose version`, else `docker-compose`
 * when it is installed; undefined when neither is.
 */
function detect(run: Run, cwd: string, env: NodeJS.ProcessEnv): Promise<Exclude<ComposeCli, 'auto'> | undefined> {
  const key = env.PATH ?? '';
  let found = detected.get(key);
  if (!found) {
    found = (async () => {
      const plugin = await run('docker', ['compose', 'version'], { cwd, env, timeout: 10_000 });
      if (!plugin.failed && plugin.exitCode === 0) return 'docker compose';
      const v1 = await run('docker-compose', ['version', '--short'], { cwd, env, timeout: 10_000 });
      if (v1.code !== 'ENOENT' && v1.exitCode === 0) return 'docker-compose';
      return plugin.code === 'ENOENT' && v1.code === 'ENOENT' ? undefined : plugin.code === 'ENOENT' ? 'docker-compose' : 'docker compose';
    })();
    detected.set(key, found);
  }
  return found;
}

/**
 * The engine's and compose's failures as one line a person understands (the whole output stays
 * in the step's output tail). Undefined when the output names none of them.
 */
export function composeProblem(output: string, cli: Exclude<ComposeCli, 'auto'>): string | undefined {
  if (cli === 'docker compose' && /unknown command:? "?docker compose|'compose' is not a docker command|unknown shorthand flag.*compose/i.test(output)) {
    return 'the docker compose plugin is not installed (docker compose … is not a docker command here)';
  }
  if (/permission denied while trying to connect to the Docker daemon|PermissionError|connect: permission denied|Permission denied.*docker\.sock/i.test(output)) {
    return 'permission denied on the Docker socket (run as a member of the docker group, or as root)';
  }
  // docker-compose v1 prints a Python traceback ending in "Error while fetching server API version".
  if (/Cannot connect to the Docker daemon|docker daemon is not running|error during connect|Couldn't connect to Docker daemon|Is the docker daemon running|Error while fetching server API version/i.test(output)) {
    return 'the Docker engine is not running (cannot connect to the Docker daemon)';
  }
  const service = /no such service:? "?([^"\s]+)"?/i.exec(output);
  if (service) return `the compose project has no service "${service[1]}"`;
  return undefined;
}

export const composeStep: StepType<ComposeParams> = {
  type: 'compose',
  summary: 'docker compose (v2) or docker-compose (v1) restart / build / up -d / logs for named services.',
  // auto needs the docker CLI too in practice (docker.io brings it with the engine); a runbook for a host with only docker-compose names that cli.
  commands: (p) => (p.cli === 'docker-compose' ? ['docker-compose'] : ['docker']),
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    properties: {
      action: { enum: ['restart', 'build', 'up', 'logs'], description: 'What docker compose does.' },
      services: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Services (default: all).' },
      dir: { type: 'string', minLength: 1, description: 'The compose project directory (default: the step’s cwd).' },
      file: { type: 'string', minLength: 1, description: 'Compose file (-f).' },
      project: { type: 'string', minLength: 1, description: 'Project name (-p).' },
      tail: { type: 'integer', minimum: 1, description: 'With logs: how many lines (default 50).' },
      recreate: {
        type: 'boolean',
        description:
          'With up: recreate the containers even when their configuration did not change (--force-recreate). For a rollback that must converge after a crash: the engine may still be carrying out what a killed compose asked (a stop waits out its grace period), and a plain up would leave a container that is about to stop.',
      },
      cli: {
        enum: ['auto', 'docker compose', 'docker-compose'],
        description: 'Which compose runs: `docker compose` (the v2 plugin), `docker-compose` (v1), or `auto` (default): the plugin when the docker CLI has it, else docker-compose.',
      },
    },
  },
  kind: (p) => (p.action === 'logs' ? 'check' : 'action'),
  normalize(raw) {
    const r = raw as Partial<ComposeParams> & { action: ComposeParams['action'] };
    return { ...r, services: r.services ?? [], dir: r.dir ?? '.', cli: r.cli ?? 'auto' } as ComposeParams;
  },
  describe(p) {
    return `${p.cli === 'docker-compose' ? 'docker-compose' : 'docker compose'} ${composeArgs(p).join(' ')}`;
  },
  invertible: () => false,
  async run(p, ctx) {
    const dir = ctx.target.resolve(ctx.cwd, p.dir);
    if (ctx.target.remote) return runOnHost(p, ctx, dir);
    const { execa } = await import('execa');
    const probe: Run = (file, args, opts) => execa(file, args, { ...opts, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', cancelSignal: ctx.signal });
    const cli = p.cli === 'auto' ? await detect(probe, dir, ctx.env) : p.cli;
    if (!cli) throw new StepFailedError('neither docker compose (the v2 plugin) nor docker-compose (v1) is installed', { command: `docker compose ${composeArgs(p).join(' ')}` });
    const [file, lead] = program(cli);
    const args = [...lead, ...composeArgs(p)];
    const shown = `${file} ${args.join(' ')}`;
    // Its own process group, killed whole on timeout or interrupt (docker runs compose as a child).
    const subprocess = execa(file, args, { cwd: dir, env: ctx.env, reject: false, all: true, detached: true });
    const result = await subprocess.finally(killGroupOnAbort(ctx.signal, () => subprocess.pid));
    if (result.failed && (result as { code?: string }).code === 'ENOENT') throw new StepFailedError(`${file} is not installed (not on PATH)`, { command: shown });
    const output = String(result.all ?? '');
    if (output) ctx.output(output);
    if (ctx.signal.aborted) throw new StepFailedError(ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted', { command: shown });
    return composeResult(p, cli, shown, result.exitCode ?? null, output);
  },
};

function composeResult(p: ComposeParams, cli: Exclude<ComposeCli, 'auto'>, shown: string, exitCode: number | null, output: string): StepOutcome {
  if (exitCode !== 0) {
    const problem = composeProblem(output, cli);
    // A known problem keeps only compose's last line: never a Python traceback in the report.
    const tail = problem ? (output.trim().split('\n').at(-1) ?? '') : output.slice(-2000);
    throw new StepFailedError(problem ?? `${cli} ${p.action} exited with code ${exitCode}`, { command: shown, exitCode, outputTail: tail });
  }
  return { detail: p.action === 'logs' ? `${output.split('\n').length} lines` : 'done' };
}

/** On a host: the same commands through its channel; `auto` asks that host's docker. */
async function runOnHost(p: ComposeParams, ctx: StepContext, dir: string): Promise<StepOutcome> {
  const exec = (argv: string[], capture: boolean) => ctx.target.exec({ argv, cwd: dir, env: ctx.env, signal: ctx.signal, capture, ...(capture ? {} : { onOutput: ctx.output }) });
  const works = async (argv: string[]) => (await exec(argv, true).catch(() => undefined))?.exitCode === 0;
  const cli: Exclude<ComposeCli, 'auto'> | undefined =
    p.cli !== 'auto' ? p.cli : (await works(['docker', 'compose', 'version'])) ? 'docker compose' : (await works(['docker-compose', 'version', '--short'])) ? 'docker-compose' : undefined;
  if (!cli) throw new StepFailedError(`neither docker compose (the v2 plugin) nor docker-compose (v1) is installed on ${ctx.target.name}`, { command: `docker compose ${composeArgs(p).join(' ')}` });
  const [file, lead] = program(cli);
  const args = [...lead, ...composeArgs(p)];
  const result = await exec([file, ...args], true);
  return composeResult(p, cli, `${file} ${args.join(' ')}`, result.exitCode, result.stdout + result.stderr);
}
