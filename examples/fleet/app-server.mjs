// The sandbox hosts' app: a tiny HTTP service on the host's own address, port 8080, that reads
// its config file at start and refuses to start on a bad pool_size — the thing a runbook's
// "service restart, then HTTP verify" is about. Usage: node app-server.mjs CONFIG ADDRESS
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const [config, address] = process.argv.slice(2);
const settings = Object.fromEntries(
  readFileSync(config, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
);
if (!/^[1-9][0-9]*$/.test(settings.pool_size ?? '')) {
  console.error(`${new Date().toISOString()} app: refusing to start: pool_size=${settings.pool_size} is not a positive integer`);
  process.exit(1);
}
const server = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/health' ? `ok host=${hostname()} pool_size=${settings.pool_size}\n` : 'not found\n');
});
server.listen(8080, address, () => console.log(`${new Date().toISOString()} app: listening on ${address}:8080 with pool_size=${settings.pool_size}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
