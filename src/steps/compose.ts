import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { killGroupOnAbort } from './kit/process-group.js';

export interface ComposeParams {
  action: 'restart' | 'build' | 'up' | 'logs';
  services: string[];
  dir: string;
  file?: string;
  project?: string;
  tail?: number;
}

function argv(p: ComposeParams): string[] {
  const head = ['compose', ...(p.file ? ['-f', p.file] : []), ...(p.project ? ['-p', p.project] : [])];
  switch (p.action) {
    case 'up':
      return [...head, 'up', '-d', ...p.services];
    case 'logs':
      return [...head, 'logs', '--no-color', '--tail', String(p.tail ?? 50), ...p.services];
    default:
      return [...head, p.action, ...p.services];
  }
}

export const composeStep: StepType<ComposeParams> = {
  type: 'compose',
  summary: 'docker compose restart / build / up -d / logs for named services.',
  commands: () => ['docker'],
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
    },
  },
  kind: (p) => (p.action === 'logs' ? 'check' : 'action'),
  normalize(raw) {
    const r = raw as Partial<ComposeParams> & { action: ComposeParams['action'] };
    return { ...r, services: r.services ?? [], dir: r.dir ?? '.' } as ComposeParams;
  },
  describe(p) {
    return `docker ${argv(p).join(' ')}`;
  },
  invertible: () => false,
  async run(p, ctx) {
    const { execa } = await import('execa');
    const args = argv(p);
    const shown = `docker ${args.join(' ')}`;
    const dir = p.dir.startsWith('/') ? p.dir : `${ctx.cwd}/${p.dir}`;
    // Its own process group, killed whole on timeout or interrupt (docker runs compose as a child).
    const subprocess = execa('docker', args, { cwd: dir, env: ctx.env, reject: false, all: true, detached: true });
    const result = await subprocess.finally(killGroupOnAbort(ctx.signal, () => subprocess.pid));
    if (result.failed && (result as { code?: string }).code === 'ENOENT') throw new StepFailedError('docker is not installed (not on PATH)', { command: shown });
    const output = String(result.all ?? '');
    if (output) ctx.output(output);
    if (/unknown command:? "?docker compose|'compose' is not a docker command|unknown shorthand flag.*compose/i.test(output)) {
      throw new StepFailedError('the docker compose plugin is not installed (docker compose … is not a docker command here)', { command: shown, exitCode: result.exitCode, outputTail: output.slice(-2000) });
    }
    if (/Cannot connect to the Docker daemon|docker daemon is not running|error during connect/i.test(output)) {
      throw new StepFailedError('the Docker engine is not running (cannot connect to the Docker daemon)', { command: shown, exitCode: result.exitCode, outputTail: output.slice(-2000) });
    }
    if (ctx.signal.aborted) throw new StepFailedError(ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted', { command: shown });
    if (result.exitCode !== 0) throw new StepFailedError(`docker compose ${p.action} exited with code ${result.exitCode}`, { command: shown, exitCode: result.exitCode, outputTail: output.slice(-2000) });
    return { detail: p.action === 'logs' ? `${output.split('\n').length} lines` : 'done' };
  },
};
