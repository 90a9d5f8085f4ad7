import { randomBytes } from 'node:crypto';

/** Sortable, unique run ids: `20261124T101502Z-3f9a`. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}
