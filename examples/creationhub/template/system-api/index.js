'use strict';

const http = require('http');
const { pool } = require('./auth');

const port = Number(process.env.API_PORT || 9191);

async function health() {
  const started = Date.now();
  const { rows } = await pool.query(
    'select count(*)::int as connections, current_setting($1)::int as max_connections from pg_stat_activity',
    ['max_connections'],
  );
  return {
    status: 'ok',
    db: { ...rows[0], latencyMs: Date.now() - started },
    pool: {
      max: pool.options.max,
      idleTimeoutMillis: pool.options.idleTimeoutMillis,
      connectionTimeoutMillis: pool.options.connectionTimeoutMillis,
      total: pool.totalCount,
      idle: pool.idleCount,
    },
  };
}

const server = http.createServer(async (req, res) => {
  res.setHeader('access-control-allow-origin', '*');
  if (req.url === '/health') {
    try {
      const body = await health();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } catch (err) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', error: err.message }));
    }
    return;
  }
  if (req.url === '/api/stats') {
    const { rows } = await pool.query('select count(*)::int as projects from projects').catch(() => ({ rows: [{}] }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows[0]));
    return;
  }
  res.writeHead(404).end('not found');
});

server.listen(port, '127.0.0.1', () => {
  console.log(`system-api listening on 127.0.0.1:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    pool.end().finally(() => process.exit(0));
  });
}
