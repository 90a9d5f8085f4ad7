import { buildRunbookSchema } from '../../schema/runbook-schema.js';

export async function run(): Promise<number> {
  process.stdout.write(JSON.stringify(buildRunbookSchema(), null, 2) + '\n');
  return 0;
}
