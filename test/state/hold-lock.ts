/**
 * Child process for the lock tests: takes the PostgreSQL state lock, says "locked", then
 * waits to be killed. Usage: node --import tsx hold-lock.ts <url> <schema> <runbook> [environment]
 */
import { hostname, userInfo } from 'node:os';
import { PostgresStateStore } from '../../src/state/postgres/postgres-store.js';

const [url, schema, runbook, environment] = process.argv.slice(2);
const store = new PostgresStateStore(url!, { runbook: runbook!, environment, schema: schema! });
await store.lock({ pid: process.pid, host: hostname(), user: userInfo().username, command: 'apply', runId: 'child-run' });
process.stdout.write('locked\n');
setInterval(() => {}, 1000);
