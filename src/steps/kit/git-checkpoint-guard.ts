import { posix } from 'node:path';
import { formatBytes } from '../../model/units.js';
import { git, gitHere, zList, type GitPlace } from './git-cli.js';
import { allExcept, openCheckout, operationInProgress } from './git-repo.js';

/** Untracked files above this size are refused: dumps and archives do not belong in git history. */
export const LARGE_FILE_BYTES = 10_000_000;

const LOOKS_AT_ONCE = 8;

/** .env*, *.pem, *.key, id_* (private keys; id_*.pub is public). */
const SECRET_NAMES = [/^\.env/, /\.pem$/, /\.key$/, /^id_(?!.*\.pub$)/];

export interface CheckpointFiles {
  /** Pathspecs (relative to the checkout dir) the checkpoint leaves out. */
  exclude: string[];
  /** Pathspecs of untracked files to commit even though they look like secrets or are large. */
  include: string[];
  /** Secret name → value: an untracked file holding one of these values is refused. */
  secrets: Map<string, string>;
}

export interface RiskyFile {
  /** Relative to the checkout dir. */
  path: string;
  why: string;
}

async function untracked(dir: string, pathspecs: string[], on: GitPlace): Promise<string[]> {
  return zList(await git(dir, ['ls-files', '--others', '--exclude-standard', '-z', '--', ...pathspecs], {}, on));
}

function secretIn(content: Buffer, secrets: Map<string, string>): string | undefined {
  for (const [name, value] of secrets) {
    const forms = new Set([value, encodeURIComponent(value)]);
    for (const form of forms) if (content.includes(form)) return name;
  }
  return undefined;
}

/**
 * Untracked, not ignored, not excluded files a checkpoint would commit that look like secrets
 * (by name, or because they hold a declared secret's value) or are larger than 10 MB. Read-only.
 */
export async function riskyUntrackedFiles(dir: string, files: CheckpointFiles, on: GitPlace = gitHere()): Promise<RiskyFile[]> {
  const candidates = await untracked(dir, allExcept(files.exclude), on);
  if (candidates.length === 0) return [];
  const allowed = new Set(files.include.length ? await untracked(dir, files.include, on) : []);
  const verdict = async (path: string): Promise<RiskyFile | undefined> => {
    if (allowed.has(path) || path.endsWith('/')) return undefined;
    if (SECRET_NAMES.some((pattern) => pattern.test(posix.basename(path)))) return { path, why: 'the name looks like a secret' };
    const full = on.target.resolve(dir, path);
    const info = await on.target.info(full, false);
    if (info?.kind !== 'file' || info.size === undefined) return undefined;
    if (info.size > LARGE_FILE_BYTES) return { path, why: `${formatBytes(info.size)}, over ${formatBytes(LARGE_FILE_BYTES)}` };
    const bytes = files.secrets.size ? await on.target.readFile(full) : undefined;
    const secret = bytes ? secretIn(bytes, files.secrets) : undefined;
    return secret ? { path, why: `holds the value of secret ${secret}` } : undefined;
  };
  const risky: RiskyFile[] = [];
  // A few at a time: each look is a session on a host, and up to 10 MB read when secrets are declared.
  for (let i = 0; i < candidates.length; i += LOOKS_AT_ONCE) {
    for (const found of await Promise.all(candidates.slice(i, i + LOOKS_AT_ONCE).map(verdict))) if (found) risky.push(found);
  }
  return risky;
}

/**
 * Why a checkpoint of `dir` must not be taken now, or undefined. `advice` says how to proceed
 * with the risky files (it differs between the runbook's checkpoint and the git step).
 */
export async function checkpointRefusal(dir: string, files: CheckpointFiles, advice: string, on: GitPlace = gitHere()): Promise<string | undefined> {
  const checkout = await openCheckout(dir, on);
  const busy = await operationInProgress(checkout);
  if (busy) return `${dir} is in the middle of ${busy}: finish or abort it first (a checkpoint now would record a half-done state)`;
  const risky = await riskyUntrackedFiles(dir, files, on);
  if (risky.length === 0) return undefined;
  const shown = risky.slice(0, 10).map((f) => `${f.path} (${f.why})`);
  if (risky.length > shown.length) shown.push(`and ${risky.length - shown.length} more`);
  const what = risky.length === 1 ? 'an untracked file that looks like a secret or is large' : `${risky.length} untracked files that look like secrets or are large`;
  return `the checkpoint would commit ${what}: ${shown.join(', ')}; ${advice}`;
}

/** Advice for the runbook's `checkpoint.git`. */
export const RUNBOOK_CHECKPOINT_ADVICE =
  'add them to .gitignore, or list them under checkpoint.git.exclude (left out of the checkpoint, untouched) or checkpoint.git.include (committed anyway)';
