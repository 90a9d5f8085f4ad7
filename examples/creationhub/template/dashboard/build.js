'use strict';
// "Build" the dashboard: copy the page and components into dist/ (what the server serves).
const fs = require('fs');
const path = require('path');

const dist = path.join(__dirname, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'components'), { recursive: true });
fs.copyFileSync(path.join(__dirname, 'public', 'index.html'), path.join(dist, 'index.html'));
for (const file of fs.readdirSync(path.join(__dirname, 'src', 'components'))) {
  fs.copyFileSync(path.join(__dirname, 'src', 'components', file), path.join(dist, 'components', file));
}
console.log('dashboard built into dist/');
