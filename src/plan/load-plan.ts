import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { isMap, isScalar } from 'yaml';
import { readInventory } from '../load/inventory.js';
import { checkRunbook, type Inventory } from '../load/load.js';
import { lazyPos, plainPos, type Locate } from '../load/lazy-pos.js';
import { nodeAt, nodeOffset, posAt, readYaml, type ReadYaml, type YamlSource } from '../load/source.js';
import { checkVarFlags, effectiveVars, externalTemplateProblems, parseVarFlag, readVarsFiles, undeclaredWarnings, varCycleDiagnostics, type VarDef } from '../load/vars.js';
import { RunbookInvalidError, UsageError, type Concealed, type Diagnostic } from '../model/diagnostic.js';
import type { Plan } from '../model/plan.js';
import { concealKeys, concealValues, secretNamesIn, secretNamesInData } from '../secrets/concealed.js';
import { resolvePlan } from './resolve.js';

export interface LoadPlanOptions {
  /** `--var key=value` flags, in order. */
  vars?: string[];
  /** `--vars-file` paths, in order. */
  varsFiles?: string[];
  env?: NodeJS.ProcessEnv;
  /** Apply: an unset `{{ env.X }}` is an error. Plan: it is shown as `${X}`. */
  strictEnv?: boolean;
  /**
   * Check values filled from templates as the step types would (a templated cron schedule needs
   * cron-parser, ~25 ms of start-up). Default true: validate and apply; plan without --check
   * reviews without it (values written out are always checked).
   */
  checkFilledValues?: boolean;
  /** Problems that do not stop the run (a vars-file key the runbook does not declare). */
  onWarning?: (warning: Diagnostic) => void;
  /** `--inventory FILE`: YAML groups of hosts that replace the runbook's `hosts:`. */
  inventory?: string;
  /** `--limit PATTERN`: only these hosts (names, groups, globs; `!x` excludes). */
  limit?: string;
  /** `--ssh-config FILE`: must exist; kept (absolute) in `plan.fleet.sshConfig`. */
  sshConfig?: string;
  /** false: read the runbook with yaml's full parse only, never the fast parse (differential tests hold both to the same result). */
  fastParse?: boolean;
}

/** `--ssh-config FILE` as an absolute path; a usage error when it is not a readable file. */
function sshConfigPath(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  const path = resolvePath(file);
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--ssh-config ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
  if (!isFile) throw new UsageError(`--ssh-config ${file}: not a file`);
  return path;
}

/** Values shorter than this cannot be hidden from output without masking unrelated text. */
const MIN_SECRET_LENGTH = 3;

function varPair(src: Pick<YamlSource, 'doc'>, name: string) {
  const map = nodeAt(src.doc, ['vars']).node;
  return isMap(map) ? map.items.find((p) => isScalar(p.key) && String(p.key.value) === name) : undefined;
}

const varNameStart: Locate = (src, name) => nodeOffset(varPair(src, name)) ?? 0;

/** The variables declared under the runbook's `vars:`, with where each name is written. */
function runbookVarDefs(src: YamlSource): VarDef[] {
  const data = src.data as Record<string, unknown> | null;
  const vars = data !== null && typeof data === 'object' ? data.vars : undefined;
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) return [];
  return Object.entries(vars as Record<string, unknown>).map(([name, value]) => {
    // After the fast parse every name has its pair (its keys are plain text), found when the position is read.
    if (src.aliasPaths) return { name, value, origin: 'runbook', pos: lazyPos(src, name, varNameStart) };
    const pair = varPair(src, name);
    return { name, value, origin: 'runbook', pos: pair ? posAt(src, nodeOffset(pair) ?? 0) : undefined };
  });
}

/** Runbook problems first, then each vars file's, then those of --var (no position); each by line and column. */
function sorted(diagnostics: Diagnostic[], files: string[]): Diagnostic[] {
  const rank = (d: Diagnostic) => (d.pos ? files.indexOf(d.pos.file) : files.length);
  return [...diagnostics].sort((a, b) => rank(a) - rank(b) || (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0));
}

/**
 * The pure front half of every command: YAML + vars → Plan. Every problem of the runbook, its
 * vars files and --var flags is collected in one pass and thrown as a RunbookInvalidError
 * (code frames hide secret values); an unknown --var name is a UsageError.
 */
export async function loadPlan(file: string, options: LoadPlanOptions = {}): Promise<Plan> {
  const env = options.env ?? process.env;
  const sources = new Map<string, string>();
  const concealed: Concealed = { values: [], spans: new Map() };
  const varsFiles = options.varsFiles ?? [];
  const inventoryFiles = options.inventory !== undefined ? [options.inventory] : [];
  /** The files whose secret keys' values code frames hide: their spans are looked up only for an error (they need the documents). */
  const concealFrom: { file: string; read: ReadYaml }[] = [];
  let secrets: string[] = [];
  const invalid = (diagnostics: Diagnostic[]) => {
    for (const { file, read } of concealFrom) concealKeys(concealed, file, read.doc, secrets);
    // Positions of steps, changes and vars are looked up when read: a diagnostic holds plain ones.
    const plain = diagnostics.map((d) => (d.pos ? { ...d, pos: plainPos(d.pos) } : d));
    return new RunbookInvalidError(sorted(plain, [file, ...inventoryFiles, ...varsFiles]), sources, concealed);
  };
  const sshConfig = sshConfigPath(options.sshConfig);
  const long = (value: unknown) => typeof value === 'string' && value.length >= MIN_SECRET_LENGTH;

  const flags = (options.vars ?? []).map(parseVarFlag);
  const read = await readYaml(file, 'runbook', { fast: options.fastParse ?? true });
  if (read.text !== undefined) sources.set(file, read.text);
  const aliasPaths = read.source?.aliasPaths;
  secrets = aliasPaths && !aliasPaths.some((path) => path[0] === 'secrets') ? secretNamesInData(read.source!.data) : secretNamesIn(read.doc);
  concealFrom.push({ file, read });
  concealValues(concealed, [...flags.filter(([name]) => secrets.includes(name)).map(([, value]) => value), ...secrets.map((name) => env[name])].filter(long));
  const fromFiles = await readVarsFiles(varsFiles, sources);
  concealFrom.push(...fromFiles.files);
  const inventoryRead = options.inventory !== undefined ? await readInventory(options.inventory) : undefined;
  if (inventoryRead?.text !== undefined) sources.set(options.inventory!, inventoryRead.text);
  const inventoryDiagnostics = inventoryRead?.diagnostics ?? [];
  if (!read.source) throw invalid([...read.diagnostics, ...inventoryDiagnostics, ...fromFiles.diagnostics]);

  const src = read.source;
  const runbookDefs = runbookVarDefs(src);
  const declared = runbookDefs.map((d) => d.name);
  const data = src.data as Record<string, unknown> | null;
  const isPlainMap = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  // Checked against the declared names only when there are some to check against; otherwise the schema problem is the news.
  if (isPlainMap(data) && (data!.vars === undefined || isPlainMap(data!.vars))) checkVarFlags(flags, declared, secrets);
  // A vars file may also give the values of the runbook's secrets (it can be mode 0600; argv cannot).
  const fileNames = [...declared, ...secrets];
  for (const warning of undeclaredWarnings(fromFiles.files, fileNames)) options.onWarning?.(warning);
  const defs = effectiveVars(runbookDefs, fromFiles.files, flags, fileNames);
  const known = new Set(declared);
  const inventory: Inventory | undefined = inventoryRead?.hosts ? { file: options.inventory!, hosts: inventoryRead.hosts } : undefined;
  // A broken inventory (null) is reported with its own problems; the runbook's are reported too, its `on:` unchecked.
  const checked = await checkRunbook(src, resolvePath(file), known, inventoryRead ? (inventory ?? null) : undefined);
  const diagnostics = [...read.diagnostics, ...inventoryDiagnostics, ...fromFiles.diagnostics, ...checked.diagnostics, ...externalTemplateProblems(defs.values(), known), ...varCycleDiagnostics(defs)];
  if (diagnostics.length > 0 || !checked.runbook) throw invalid(diagnostics);

  const runbook = checked.runbook;
  const overrides = Object.fromEntries([...defs.values()].filter((d) => d.origin !== 'runbook').map((d) => [d.name, d.value]));
  const resolved = await resolvePlan(runbook, {
    vars: overrides,
    env,
    strictEnv: options.strictEnv ?? false,
    checkFilled: options.checkFilledValues ?? true,
    varPositions: Object.fromEntries([...defs.values()].map((d) => [d.name, d.pos])),
    limit: options.limit,
    sshConfig,
  });
  const secretValue = (name: string) => (Object.hasOwn(resolved.vars, name) ? String(resolved.vars[name] ?? '') : env[name]);
  concealValues(concealed, runbook.secrets.map(secretValue).filter(long));
  const short = runbook.secrets.filter((name) => (secretValue(name) ?? '').length > 0 && !long(secretValue(name)));
  const shortDiagnostics = short.map((name) => ({
    code: 'short-secret',
    message: `secret ${name} has a value shorter than ${MIN_SECRET_LENGTH} characters: runbook cannot hide a value that short in its output and journal without masking unrelated text; use a longer value, or remove ${name} from secrets if it is not one`,
    pos: posAt(src, nodeOffset(nodeAt(src.doc, ['secrets', runbook.secrets.indexOf(name)]).node) ?? 0),
  }));
  if (!resolved.plan || shortDiagnostics.length > 0) throw invalid([...resolved.diagnostics, ...shortDiagnostics]);
  return resolved.plan;
}
