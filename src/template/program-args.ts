/**
 * Which words of a simple command another interpreter parses again as code: the program of
 * `bash -c "…"`, the arguments of `eval`, the remote command of `ssh host …`, a sed script.
 * A value in such a word would be code there however the outer shell receives it, so the
 * templates that land in one are refused (see shell-slots.ts). `words` are the command's
 * words before the one being read (quotes removed); `current` is that word so far.
 */

export type ReparseKind = 'nested-shell' | 'nested-program' | 'sql-client' | 'eval' | 'trap' | 'ssh' | 'sed' | 'awk' | 'arithmetic' | 'variable-name';

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh', 'fish', 'csh', 'tcsh']);
/** Interpreters whose program comes after a flag: name → flags followed by program text. */
const FLAG_PROGRAMS: Record<string, string[]> = {
  su: ['-c', '--command'],
  runuser: ['-c', '--command'],
  flock: ['-c', '--command'],
  python: ['-c'],
  python2: ['-c'],
  python3: ['-c'],
  perl: ['-e', '-E'],
  ruby: ['-e'],
  node: ['-e', '-p', '--eval', '--print'],
  php: ['-r'],
  psql: ['-c', '--command'],
  mysql: ['-e', '--execute'],
};
/** Programs that read code (or SQL) from stdin when given a heredoc or here-string. */
const STDIN_PROGRAMS = new Set([...SHELLS, 'ssh', 'psql', 'mysql', 'python', 'python2', 'python3', 'perl', 'ruby', 'node', 'php']);
/** Words that may stand before a command name without being it. */
const PREFIXES = new Set(['sudo', 'doas', 'exec', 'command', 'builtin', 'nohup', 'time', 'nice', 'env', '!', '{', '(', 'then', 'do', 'else', 'if', 'elif', 'while', 'until']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=/;
const SSH_OPTS_WITH_VALUE = 'BbcDEeFIiJLlmOopQRSWw';

function base(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}

const isOption = (word: string) => word.length > 1 && (word.startsWith('-') || word.startsWith('+'));

/** The index of the command name, skipping assignments and prefixes such as sudo; -1 when not read yet. */
function commandIndex(words: string[]): number {
  let i = 0;
  while (i < words.length && (ASSIGNMENT.test(words[i]!) || PREFIXES.has(words[i]!))) i++;
  return i < words.length ? i : -1;
}

/** The shell at `words[at]` runs its next non-option word (after an option with c) as its program. */
function shellProgram(words: string[], at: number, current: string): boolean {
  let withC = false;
  let k = at + 1;
  for (; k < words.length && isOption(words[k]!); k++) {
    const w = words[k]!;
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(w)) withC = true;
    if (w === '-o' || w === '+o' || w === '-O' || w === '+O') k++;
  }
  return withC && k === words.length && !isOption(current);
}

function flagProgram(words: string[], at: number, current: string): boolean {
  const flags = FLAG_PROGRAMS[base(words[at]!)]!;
  const previous = words[words.length - 1];
  if (words.length - 1 > at && previous !== undefined && flags.includes(previous)) return true;
  return flags.some((f) => f.startsWith('--') && current.startsWith(`${f}=`));
}

/** sed's script: the value of -e, or the first operand when there is no -e/-f. */
function sedScript(args: string[], current: string): boolean {
  let script = false;
  let operands = 0;
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (a === '-e' || a === '--expression' || a === '-f' || a === '--file') {
      if (k === args.length - 1) return a === '-e' || a === '--expression';
      script = true;
      k++;
    } else if (a === '-l' || a === '--line-length') {
      if (k === args.length - 1) return false;
      k++;
    }
    else if (!isOption(a)) operands++;
  }
  if (current.startsWith('--expression=')) return true;
  return !script && operands === 0 && !isOption(current);
}

/** awk's program: the first operand unless -f gives it. */
function awkProgram(args: string[], current: string): boolean {
  let operands = 0;
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (a === '-f' || a === '--file') return false;
    if (a === '-F' || a === '-v' || a === '--assign' || a === '--field-separator') {
      if (k === args.length - 1) return false;
      k++;
    }
    else if (!isOption(a)) operands++;
  }
  return operands === 0 && !isOption(current);
}

/** ssh runs every word after the destination on the remote host, through its shell. */
function sshRemote(args: string[]): boolean {
  let k = 0;
  while (k < args.length && isOption(args[k]!)) {
    const a = args[k]!;
    if (a.length === 2 && SSH_OPTS_WITH_VALUE.includes(a[1]!)) k++;
    k++;
  }
  return k < args.length;
}

const DECLARES = new Set(['declare', 'typeset', 'local', 'readonly', 'unset']);
/** Options of read / mapfile that take a value (which is not a variable name). */
const READ_VALUE_OPTS: Record<string, string[]> = { read: ['-d', '-i', '-n', '-N', '-p', '-t', '-u'], mapfile: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'], readarray: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'] };

/**
 * The word names a variable: bash evaluates a subscript in a name (a[$(cmd)]) — in declare,
 * local, unset, read, printf -v and -v tests.
 */
function variableName(name: string, args: string[], current: string, words: string[]): boolean {
  const previous = words[words.length - 1];
  if (DECLARES.has(name)) return !isOption(current) && !current.includes('=');
  if (name === 'printf') return previous === '-v';
  if (Object.hasOwn(READ_VALUE_OPTS, name)) return !isOption(current) && !(previous !== undefined && args.length > 0 && READ_VALUE_OPTS[name]!.includes(previous));
  return previous === '-v' && (name === 'test' || name === '[' || name === '[[');
}

/** Whether the word being read (after `words`) is parsed again as code, and by what. */
export function reparsedBy(words: string[], current: string): ReparseKind | undefined {
  const cmd = commandIndex(words);
  if (cmd !== -1) {
    const name = base(words[cmd]!);
    const args = words.slice(cmd + 1);
    if (variableName(name, args, current, words)) return 'variable-name';
    if (name === 'eval') return 'eval';
    if (name === 'let') return 'arithmetic';
    if (name === 'trap') return 'trap';
    if (name === 'watch') return 'nested-shell';
    if (name === 'ssh' && sshRemote(args)) return 'ssh';
    if ((name === 'sed' || name === 'gsed') && sedScript(args, current)) return 'sed';
    if (/^[gmn]?awk$/.test(name) && awkProgram(args, current)) return 'awk';
  }
  for (let j = 0; j < words.length; j++) {
    const name = base(words[j]!);
    if (SHELLS.has(name) && shellProgram(words, j, current)) return 'nested-shell';
    if (Object.hasOwn(FLAG_PROGRAMS, name) && flagProgram(words, j, current)) {
      if (name === 'psql' || name === 'mysql') return 'sql-client';
      return name === 'su' || name === 'runuser' || name === 'flock' ? 'nested-shell' : 'nested-program';
    }
  }
  return undefined;
}

/** Whether a command whose words (before a heredoc or here-string) are `words` reads a program (or SQL) on stdin. */
export function readsProgram(words: string[]): boolean {
  return words.some((w) => STDIN_PROGRAMS.has(base(w)));
}
