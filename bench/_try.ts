import { startSshHosts } from '../tools/ssh-hosts.js';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
const fleet = await startSshHosts(['fb-1','fb-2'], { firstOctet: 230 });
try {
  spawnSync('rm',['-rf','/tmp/fb/state']);
  const r = spawnSync('node',['bin/runbook.js','apply','/tmp/fb/rb2.yaml','--ssh-config',fleet.sshConfig,'--yes','--state-dir','/tmp/fb/state'],{encoding:'utf8'});
  console.log(r.status, r.stderr);
  for (const f of readdirSync('/tmp/fb/state/runs')) for (const l of readFileSync('/tmp/fb/state/runs/'+f,'utf8').split('\n').filter(Boolean)) { const e=JSON.parse(l); console.log(e.at, e.type, e.host??'', e.batch??'', e.phase??''); }
} finally { fleet.stop(); }
