/** Where in a runbook file a problem is. Lines and columns are 1-based. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/**
 * A problem found in a runbook or in how the CLI was called. The library returns these as
 * values; only `src/cli/` prints them (with a code frame) and maps them to exit code 2.
 */
export interface Diagnostic {
  /** Stable machine-readable code, e.g. `yaml-syntax`, `schema`, `duplicate-id`, `unknown-var`. */
  code: string;
  message: string;
  pos?: SourcePos;
}

/** What printed problems must not show: secret values, and the spans of each file that hold them. */
export interface Concealed {
  values: string[];
  /** File → [start, end) offsets of values of keys named in `secrets:`. */
  spans: Map<string, [number, number][]>;
}

/** Thrown when a runbook (or the CLI input) is invalid; carries every problem found in one pass. */
export class RunbookInvalidError extends Error {
  readonly diagnostics: Diagnostic[];
  /** Source text per file, so the CLI can print code frames. */
  readonly sources: Map<string, string>;
  readonly concealed: Concealed;

  constructor(diagnostics: Diagnostic[], sources: Map<string, string> = new Map(), concealed: Concealed = { values: [], spans: new Map() }) {
    super(diagnostics.map((d) => d.message).join('\n'));
    this.name = 'RunbookInvalidError';
    this.diagnostics = diagnostics;
    this.sources = sources;
    this.concealed = concealed;
  }
}

/** Usage problems (bad flags, missing files) that are not tied to a position. Exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
