'use strict';
// Serves the built dashboard (dist/) on 127.0.0.1.
const http = require('http');
const fs = require('fs');
const path = require('path');

const port = Number(process.env.DASHBOARD_PORT || 7777);
const dist = path.join(__dirname, 'dist');
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const rel = url.pathname === '/' ? 'index.html' : path.normalize(url.pathname).replace(/^[/\\]+/, '');
    const file = path.join(dist, rel);
    if (!file.startsWith(dist) || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  })
  .listen(port, '127.0.0.1', () => console.log(`dashboard on 127.0.0.1:${port}`));

process.on('SIGTERM', () => process.exit(0));
