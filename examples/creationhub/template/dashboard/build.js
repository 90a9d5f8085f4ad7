'use strict';
// "Build" the dashboard: copy the page and components into dist/ (what the server serves).
// The API's port is baked into the page (data-api-port on <body>), as a real build bakes in
// its API URL: the page must poll this deployment's API, not whatever answers on 9191.
const fs = require('fs');
const path = require('path');

const apiPort = process.env.API_PORT;
if (!/^\d+$/.test(apiPort || '')) {
  console.error('build: API_PORT must be set to the API port the page polls');
  process.exit(1);
}
const dist = path.join(__dirname, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'components'), { recursive: true });
const page = fs.readFileSync(path.join(__dirname, 'public', 'index.html'), 'utf8');
fs.writeFileSync(path.join(dist, 'index.html'), page.replace('<body>', `<body data-api-port="${apiPort}">`));
for (const file of fs.readdirSync(path.join(__dirname, 'src', 'components'))) {
  fs.copyFileSync(path.join(__dirname, 'src', 'components', file), path.join(dist, 'components', file));
}
console.log(`dashboard built into dist/ (API port ${apiPort})`);
