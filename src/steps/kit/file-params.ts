import type { RestoreParams } from './file-snapshot.js';

/** The `file` step's parameters, as validated and normalised (shared by the step and its pure transform). */
export interface FileParams {
  path: string;
  replace?: { from: string; to: string; count?: number };
  content?: string;
  encoding?: 'utf8' | 'base64';
  line?: string;
  regexp?: string;
  absent?: boolean;
  mode?: string;
  /** Only in the journal, as the inverse of a step: put a snapshot back (not part of the schema). */
  restore?: RestoreParams;
}
