import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { escapeIdentifier, escapeLiteral } from '../../src/template/fill.js';
import { shellSlots } from '../../src/template/shell-slots.js';
import { sqlSlots } from '../../src/template/sql-slots.js';
import { runCli, runCliAsync } from '../support/cli.js';

/**
 * Template values that try to inject commands, SQL or URL parts, run through the real CLI:
 * real bash, real PostgreSQL (the harness's cluster), a real HTTP server on 127.0.0.1.
 */

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-inject-'));
  return {
    dir,
    /** Writes a runbook (and, given vars, a vars file in JSON, which is YAML) and returns the CLI args for it. */
    runbook(yaml: string, vars: Record<string, string> = {}): string[] {
      const file = join(dir, 'runbook.yaml');
      writeFileSync(file, yaml);
      const varsFile = join(dir, 'vars.json');
      writeFileSync(varsFile, JSON.stringify(vars));
      return [file, '--vars-file', varsFile];
    },
    pwned: () => readdirSync(dir).filter((f) => f.startsWith('pwned')),
    read: (name: string) => readFileSync(join(dir, name), 'utf8'),
    journal: () => {
      const runs = join(dir, '.runbook', 'runs');
      return readdirSync(runs).map((f) => readFileSync(join(runs, f), 'utf8')).join('');
    },
  };
}

const header = (vars: string) => `runbook: 1
name: injection
vars: { ${vars} }
policy: { maxRisk: 10, confirmFrom: 11 }
`;

/** Values that try everything; each would create a file named pwned* in `dir` if it ran. */
function payloads(dir: string): string[] {
  const touch = `touch ${dir}/pwned`;
  return [
    `x; ${touch}1 $(${touch}2)`,
    `$(${touch})`,
    `\`${touch}\``,
    `'; ${touch}; '`,
    `"; ${touch}; "`,
    `a\n${touch}\nb`,
    `x && ${touch} || ${touch}`,
    `\${IFS}${touch.replaceAll(' ', '${IFS}')}`,
    `* ?[a-z] ~ {a,b} [!x]`,
    `-n -e --help`,
    `héllo — 日本語 ✓ 🚀`,
    `a[$(${touch})]`,
    `\\"\\$(${touch})\\`,
    `EOF\n${touch}\nEOF`,
    `  spaces  around  `,
    `$HOME \${HOME} %s %% 100%`,
    `trailing newlines\n\n`,
    '',
  ];
}

/** Where a template can sit in a run step, what the step writes to `file` and what that file must then hold. */
const contexts: { name: string; step: (file: string) => string; expect: (v: string) => string }[] = [
  { name: 'bare', step: (f) => `run: "printf %s {{ v }} > ${f}"`, expect: (v) => v },
  { name: 'double quotes', step: (f) => `run: "printf %s \\"[{{ v }}]\\" > ${f}"`, expect: (v) => `[${v}]` },
  { name: '$( ) inside double quotes', step: (f) => `run: "printf %s \\"$(printf %s {{ v }})\\" > ${f}"`, expect: (v) => v.replace(/\n+$/, '') },
  { name: '"…" in $( ) in "…"', step: (f) => `run: "printf %s \\"$(printf %s \\"{{ v }}\\")\\" > ${f}"`, expect: (v) => v.replace(/\n+$/, '') },
  { name: 'backticks inside double quotes', step: (f) => `run: "printf %s \\"\`printf %s {{ v }}\`\\" > ${f}"`, expect: (v) => v.replace(/\n+$/, '') },
  { name: 'backticks', step: (f) => `run: "x=\`printf %s {{ v }}\`; printf %s \\"$x\\" > ${f}"`, expect: (v) => v.replace(/\n+$/, '') },
  { name: 'unquoted heredoc', step: (f) => `run: "cat > ${f} <<EOF\\n{{ v }}\\nEOF"`, expect: (v) => `${v}\n` },
  { name: '$( ) in a heredoc', step: (f) => `run: "cat > ${f} <<-EOF\\n\\t$(printf %s {{ v }})\\n\\tEOF"`, expect: (v) => `${v.replace(/\n+$/, '')}\n` },
  { name: 'here-string', step: (f) => `run: "cat <<< {{ v }} > ${f}"`, expect: (v) => `${v}\n` },
  { name: 'assignment', step: (f) => `run: "v={{ v }}; printf %s \\"$v\\" > ${f}"`, expect: (v) => v },
  { name: 'nested bash -c (value via env:)', step: (f) => `run: "bash -c 'printf %s \\"$V\\" > \\"$1\\"' _ ${f}"\n        env: { V: "{{ v }}" }`, expect: (v) => v },
  { name: 'argv', step: (f) => `run: [bash, -c, 'printf %s "$1" > "$2"', _, "{{ v }}", "${f}"]`, expect: (v) => v },
];

describe('template values never execute in run steps', () => {
  it('every payload, in every shell context, reaches the command byte for byte and runs nothing', () => {
    const sb = sandbox();
    const values = payloads(sb.dir);
    const vars: Record<string, string> = {};
    values.forEach((v, i) => (vars[`v${i}`] = v));
    const steps: string[] = [];
    values.forEach((_, i) => contexts.forEach((c, k) => steps.push(`      - ${c.step(`${sb.dir}/out-${i}-${k}`).replaceAll('{{ v }}', `{{ v${i} }}`)}`)));
    const args = sb.runbook(`${header(values.map((_, i) => `v${i}: ""`).join(', '))}changes:
  - id: write
    title: Write every value
    risk: 0
    apply:
${steps.join('\n')}
    rollback: [ { run: "true" } ]
`, vars);
    const r = runCli(['apply', ...args, '--yes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sb.pwned()).toEqual([]);
    values.forEach((v, i) =>
      contexts.forEach((c, k) => expect(readFileSync(join(sb.dir, `out-${i}-${k}`)), `payload ${i} ${JSON.stringify(v)} ${c.name}`).toEqual(Buffer.from(c.expect(v), 'utf8'))),
    );
  });

  it('the audit case: bare, "$( )", "` `", heredoc and a nested shell with --var dir=… execute nothing', () => {
    const sb = sandbox();
    const value = `x; touch ${sb.dir}/pwned1 $(touch ${sb.dir}/pwned2)`;
    const args = sb.runbook(`${header(`dir: safe, out: "${sb.dir}"`)}changes:
  - id: audit
    title: The audit's commands
    risk: 0
    apply:
      - run: "echo \\"$(echo dq-cmdsub {{ dir }})\\" > {{ out }}/a"
      - run: "echo \\"\`echo dqbt {{ dir }}\`\\" >> {{ out }}/a"
      - run: "cat <<EOF >> {{ out }}/a\\nheredoc {{ dir }}\\nEOF"
      - run: "bash -c 'echo nested \\"$DIR\\"' >> {{ out }}/a"
        env: { DIR: "{{ dir }}" }
    rollback: [ { run: "true" } ]
`);
    const r = runCli(['apply', ...args, '--yes', '--var', `dir=${value}`]);
    expect(r.code).toBe(0);
    expect(sb.pwned()).toEqual([]);
    expect(sb.read('a')).toBe(`dq-cmdsub ${value}\ndqbt ${value}\nheredoc ${value}\nnested ${value}\n`);
  });

  it('rollback — automatic after a failure, and runbook rollback from the journal — runs the same command with the same values', () => {
    const sb = sandbox();
    const value = `it's "$(touch ${sb.dir}/pwned)" \`x\`; a\nb`;
    const undo = (name: string) => `      - run: "printf %s {{ v }} > {{ out }}/${name}-bare; printf %s \\"{{ v }}\\" > {{ out }}/${name}-double; cat > {{ out }}/${name}-heredoc <<EOF\\n{{ v }}\\nEOF"`;
    const yaml = (failing: boolean) => `${header(`v: "", out: "${sb.dir}"`)}changes:
  - id: one
    title: One
    risk: 0
    apply:
      - run: "true"
    verify:
      - run: "${failing ? 'false' : 'true'}"
    rollback:
${undo(failing ? 'auto' : 'journal')}
`;
    let args = sb.runbook(yaml(true), { v: value });
    expect(runCli(['apply', ...args, '--yes']).code).toBe(1);
    args = sb.runbook(yaml(false), { v: value });
    expect(runCli(['apply', ...args, '--yes']).code).toBe(0);
    // A later edit of the runbook must not change what the journaled rollback does.
    sb.runbook(yaml(false).replace('{{ out }}/journal-bare', '{{ out }}/edited'), { v: 'changed' });
    const rb = runCli(['rollback', ...args]);
    expect(rb.code).toBe(0);
    expect(sb.pwned()).toEqual([]);
    for (const name of ['auto', 'journal']) {
      expect(sb.read(`${name}-bare`)).toBe(value);
      expect(sb.read(`${name}-double`)).toBe(value);
      expect(sb.read(`${name}-heredoc`)).toBe(`${value}\n`);
    }
    expect(existsSync(join(sb.dir, 'edited'))).toBe(false);
    // The journal holds the command as it runs (values by reference), the values, and the readable form.
    const step = sb
      .journal()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; rollback?: { params: { command: string; shown: string }; env: Record<string, string> }[] })
      .flatMap((e) => (e.type === 'change.started' ? e.rollback! : []))
      .find((s) => s.params.command.includes('journal-bare'))!;
    expect(step.params.command).toBe(`printf %s "\${RUNBOOK_V1}" > "\${RUNBOOK_V2}"/journal-bare; printf %s "\${RUNBOOK_V1}" > "\${RUNBOOK_V2}"/journal-double; cat > "\${RUNBOOK_V2}"/journal-heredoc <<EOF\n\${RUNBOOK_V1}\nEOF`);
    expect(step.env).toEqual({ RUNBOOK_V1: value, RUNBOOK_V2: sb.dir });
    expect(step.params.shown).toContain(`printf %s 'it'\\''s "$(touch ${sb.dir}/pwned)" \`x\`; a\nb' > ${sb.dir}/journal-bare`);
  });

  it('plan, --dry-run and a failure report show the command with values quoted for reading, secrets as ***', () => {
    const sb = sandbox();
    const value = `x; touch ${sb.dir}/pwned`;
    const args = sb.runbook(`${header('v: ""')}secrets: [TOKEN]
changes:
  - id: show
    title: Show
    risk: 0
    apply:
      - run: "test {{ v }} = \\"{{ v }}\\" && test {{ env.TOKEN }} = nope"
    rollback: [ { run: "true" } ]
`, { v: value });
    const env = { TOKEN: 'tok-s3cr3t-value' };
    const shown = `test 'x; touch ${sb.dir}/pwned' = "x; touch ${sb.dir}/pwned" && test *** = nope`;
    const plan = runCli(['plan', ...args, '--format', 'markdown'], { env });
    expect(plan.stdout).toContain(shown);
    const dry = runCli(['apply', ...args, '--dry-run'], { env });
    expect(dry.stdout).toContain(shown);
    const failed = runCli(['apply', ...args, '--yes'], { env });
    expect(failed.code).toBe(1);
    expect(failed.stdout + failed.stderr).toContain(`command: ${shown}`);
    for (const out of [plan.stdout, dry.stdout, failed.stdout, failed.stderr, sb.journal()]) expect(out).not.toContain(env.TOKEN);
    expect(sb.pwned()).toEqual([]);
  });

  it('a cron command gets the value quoted for the shell cron starts, % escaped, and running its line runs nothing', () => {
    const sb = sandbox();
    const value = `50% off; touch ${sb.dir}/pwned '$(touch ${sb.dir}/pwned2)'`;
    const args = sb.runbook(`${header(`v: "", out: "${sb.dir}"`)}changes:
  - id: cron
    title: Cron
    risk: 0
    apply:
      - cron: { id: inj, schedule: "@daily", file: "${sb.dir}/crontab", command: "echo {{ v }} > {{ out }}/cron.out" }
`, { v: value });
    expect(runCli(['apply', ...args, '--yes']).code).toBe(0);
    const line = sb.read('crontab').trim();
    const command = line.replace(/^@daily root /, '').replace(/ # runbook:inj$/, '');
    // What cron does with the command: an unescaped % ends it; \% is a literal %.
    expect(command.replace(/\\%/g, '')).not.toContain('%');
    const asCron = spawnSync('/bin/sh', ['-c', command.replace(/\\%/g, '%')], { encoding: 'utf8' });
    expect(asCron.status).toBe(0);
    expect(sb.read('cron.out')).toBe(`${value}\n`);
    expect(sb.pwned()).toEqual([]);
  });
});

describe('templates where a value cannot be passed safely are errors at load time, with file:line:col', () => {
  const cases: [string, string, RegExp][] = [
    ["inside '…'", `run: "echo '{{ v }}'"`, /\{\{ v \}\} is inside '…', where the shell expands nothing: write it outside the quotes \(its value is quoted for you\), or, for a nested shell \(bash -c '…'\), pass it with the step's env: \(env: \{ V: "\{\{ v \}\}" \}\) and write "\$V" there/],
    ["a nested bash -c '…'", `run: "bash -c 'echo nested {{ v }}'"`, /is inside '…'/],
    ['a nested bash -c "…"', `run: "bash -c \\"echo {{ v }}\\""`, /is in the program text of a nested shell/],
    ['a quoted heredoc', `run: "cat <<'EOF'\\n{{ v }}\\nEOF"`, /heredoc with a quoted delimiter/],
    ["$'…'", `run: "echo $'{{ v }}'"`, /is inside \$'…'/],
    ['eval', `run: "eval echo {{ v }}"`, /argument of eval/],
    ['ssh', `run: "ssh host ls {{ v }}"`, /ssh runs remotely/],
    ['arithmetic', `run: "echo $(( {{ v }} + 1 ))"`, /arithmetic context/],
    ['[[ -eq ]]', `run: "[[ {{ v }} -eq 1 ]]"`, /arithmetic context/],
    ['declare', `run: "declare {{ v }}=1"`, /used as a variable name/],
    ['a sed script', `run: "sed -i \\"s/a/{{ v }}/\\" f"`, /sed script/],
    ['a heredoc fed to bash', `run: "bash <<EOF\\necho {{ v }}\\nEOF"`, /reads as its program/],
    ['psql -c', `run: "psql -c \\"select '{{ v }}'\\""`, /in SQL given to psql -c or mysql -e/],
    ['a SQL string literal in a query', `postgres: { url: "postgres://u@127.0.0.1/db", query: "select 1 where 'a' = '{{ v }}'" }`, /inside a SQL string literal: don't quote it — it is passed as a bind parameter/],
    ['a SQL string literal in exec', `postgres: { url: "postgres://u@127.0.0.1/db", exec: "insert into t (name) values ('{{ v }}')" }`, /inside a SQL string literal: don't quote it — it is inserted as a quoted SQL literal for you/],
    ['a quoted SQL identifier', `postgres: { url: "postgres://u@127.0.0.1/db", exec: "drop table \\"{{ v }}\\"" }`, /write \{\{ v \| ident \}\} without the quotes/],
    ['a SQL comment', `postgres: { url: "postgres://u@127.0.0.1/db", exec: "select 1 -- {{ v }}" }`, /inside a SQL comment/],
    ['| ident outside SQL', `run: "echo {{ v | ident }}"`, /\| ident quotes a SQL identifier/],
    ['{{.Field}}', `run: "docker inspect -f '{{.State.Status}}' api"`, /"\{\{\.State\.Status\}\}" is not a valid template: .*to write a literal "\{\{", use \{\{ "\{\{" \}\} \(or \{\{ '\{\{' \}\}\) \(e\.g\. \{\{ "\{\{\.State\.Status\}\}" \}\}\)/],
  ];
  it.each(cases)('%s', (_what, step, message) => {
    const sb = sandbox();
    const args = sb.runbook(`${header('v: x')}changes:
  - id: c
    title: C
    risk: 0
    apply:
      - ${step}
    rollback: [ { run: "true" } ]
`);
    const r = runCli(['validate', ...args]);
    expect(r.code).toBe(2);
    const col = step.indexOf('{{') + 9;
    expect(r.stderr).toContain(`runbook.yaml:10:${col}: `);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('in a block scalar, the position is the template’s own line and column', () => {
    const sb = sandbox();
    const args = sb.runbook(`${header('v: x')}changes:
  - id: c
    title: C
    risk: 0
    apply:
      - run: |
          echo first
          bash -c "echo {{ v }}"
    rollback: [ { run: "true" } ]
`);
    const r = runCli(['validate', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('runbook.yaml:12:25: {{ v }} is in the program text of a nested shell');
  });

  it('| raw opts out, and a raw value that makes a template part of a nested shell’s program is caught when the plan is resolved', () => {
    const sb = sandbox();
    const args = sb.runbook(`${header(`prefix: "bash -c", v: x`)}changes:
  - id: c
    title: C
    risk: 0
    apply:
      - run: "{{ prefix | raw }} {{ v }}"
    rollback: [ { run: "true" } ]
`);
    const r = runCli(['validate', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runbook\.yaml:10:9: \{\{ v \}\} is in the program text of a nested shell.*\(after the \| raw values were inserted\)/);
  });
});

describe('reading commands and SQL never fails', () => {
  it('any text with templates anywhere gets one answer per template, without throwing', () => {
    const piece = fc.oneof(fc.constantFrom(null, "'", '"', '`', '$(', '$((', '${', ')', '}', '<<EOF\n', '\nEOF\n', "<<'X'\n", '\\', '#', '--', '/*', '$$', 'bash -c ', 'eval ', '[[ ', ' -eq ', ' ]]', ';', '\n', ' '), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const holes = pieces.filter((p) => p === null).length;
        expect(shellSlots(pieces)).toHaveLength(holes);
        expect(sqlSlots(pieces)).toHaveLength(holes);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('literal {{ in commands and files', () => {
  it('{{ "…" }} writes its text as is: a Go template for docker inspect, a file with {{.Name}}', () => {
    const sb = sandbox();
    const args = sb.runbook(`${header(`out: "${sb.dir}"`)}changes:
  - id: c
    title: C
    risk: 0
    apply:
      - run: |
          printf %s '{{ "{{.State.Status}}" }}' > {{ out }}/format
      - run: "printf %s '{{ '{{.Config.Image}}' }}' > {{ out }}/format2"
      - file: { path: "{{ out }}/hello.txt", content: 'Hello {{ "{{" }}.Name}}, {{ "{{" }} "}}"' }
    rollback: [ { run: "true" } ]
`);
    expect(runCli(['apply', ...args, '--yes']).code).toBe(0);
    expect(sb.read('format')).toBe('{{.State.Status}}');
    expect(sb.read('format2')).toBe('{{.Config.Image}}');
    expect(sb.read('hello.txt')).toBe('Hello {{.Name}}, {{ "}}"');
  });
});

describe('SQL takes values as parameters or quoted literals, never as SQL text', () => {
  const { url } = inject('pg');
  let client: pg.Client;
  const hostile = [`a'); drop table tpl_items; --`, `x' or '1'='1`, `back\\slash\\'); drop table tpl_items; --`, `$$; drop table tpl_items; $$`, `"quoted" ident`, `日本語 ✓`, `a\nb`];
  beforeAll(async () => {
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    await client.query('drop table if exists tpl_items; drop table if exists "tpl weird ""name"""; drop role if exists tpl_user');
    await client.end();
  });
  const rows = async () => (await client.query<{ id: number; name: string }>('select id, name from tpl_items order by id')).rows;

  it('quotes literals and identifiers exactly as pg does (escapeLiteral, escapeIdentifier)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (v) => {
        expect(escapeLiteral(v)).toBe(client.escapeLiteral(v));
        expect(escapeIdentifier(v)).toBe(client.escapeIdentifier(v));
      }),
      { numRuns: 2000 },
    );
    for (const v of [`O'Brien`, `a\\b`, `'\\'`, '']) expect(escapeLiteral(v)).toBe(client.escapeLiteral(v));
  });

  it('exec stores each hostile value verbatim and leaves every other row alone; query finds it by a bind parameter', async () => {
    await client.query('drop table if exists tpl_items; create table tpl_items (id int primary key, name text not null)');
    await client.query(`insert into tpl_items values (1, 'keep')`);
    const sb = sandbox();
    const vars: Record<string, string> = { db: url };
    const steps = hostile.flatMap((v, i) => {
      vars[`q${i}`] = v;
      return [
        `      - postgres: { url: "{{ db }}", exec: "insert into tpl_items (id, name) values (${i + 10}, {{ q${i} }})" }`,
        `      - postgres: { url: "{{ db }}", query: "select id from tpl_items where name = {{ q${i} }} and id > $1", params: [0], expect: ${i + 10} }`,
      ];
    });
    const args = sb.runbook(`${header(`db: "", ${hostile.map((_, i) => `q${i}: ""`).join(', ')}`)}secrets: [db]
changes:
  - id: sql
    title: SQL
    risk: 0
    apply:
${steps.join('\n')}
    rollback:
      - postgres: { url: "{{ db }}", exec: "delete from tpl_items where id >= 10" }
`, vars);
    const r = await runCliAsync(['apply', ...args, '--yes']);
    expect(r.stdout + r.stderr).not.toContain('FAILED');
    expect(r.code).toBe(0);
    expect(await rows()).toEqual([{ id: 1, name: 'keep' }, ...hostile.map((name, i) => ({ id: i + 10, name }))]);
  });

  it('| ident quotes an identifier in exec and query', async () => {
    const sb = sandbox();
    const args = sb.runbook(`${header(`db: "${url}", t: 'tpl weird "name"'`)}changes:
  - id: ident
    title: Ident
    risk: 0
    apply:
      - postgres: { url: "{{ db }}", exec: "create table {{ t | ident }} (v text); insert into {{ t | ident }} values ({{ t }})" }
      - postgres: { url: "{{ db }}", query: "select v from {{ t | ident }} where v = {{ t }}", expect: 'tpl weird "name"' }
    rollback:
      - postgres: { url: "{{ db }}", exec: "drop table {{ t | ident }}" }
`);
    const r = await runCliAsync(['apply', ...args, '--yes']);
    expect(r.stdout + r.stderr).not.toContain('FAILED');
    expect(r.code).toBe(0);
    expect((await client.query('select v from "tpl weird ""name"""')).rows).toEqual([{ v: 'tpl weird "name"' }]);
  });

  it('a password with @ : / ? # % in a connection URL is percent-encoded and connects', async () => {
    const password = `p@ss:w/rd?#%&'"`;
    await client.query(`drop role if exists tpl_user; create role tpl_user login password ${client.escapeLiteral(password)}`);
    const { hostname, port, pathname } = new URL(url);
    const sb = sandbox();
    const args = sb.runbook(`${header('pw: "", port: ""')}secrets: [pw]
changes:
  - id: url
    title: URL
    risk: 0
    apply:
      - postgres: { url: "postgres://tpl_user:{{ pw }}@${hostname}:{{ port }}${pathname}", query: "select current_user", expect: tpl_user }
    rollback: [ { run: "true" } ]
`, { pw: password, port });
    const r = await runCliAsync(['apply', ...args, '--yes']);
    expect(r.stdout + r.stderr).not.toContain('FAILED');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(password);
  });
});

describe('URLs: a value after the base is percent-encoded', () => {
  let server: Server;
  let base: string;
  const seen: { path: string; query: URLSearchParams }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      seen.push({ path: decodeURIComponent(u.pathname), query: u.searchParams });
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('the server receives the encoded value and decodes it verbatim; the base starts the URL as is', async () => {
    const sb = sandbox();
    const q = `a&b=c d/e?f#g%h+i'"; $(x) 日本`;
    const args = sb.runbook(`${header('api: "", q: ""')}changes:
  - id: url
    title: URL
    risk: 0
    verify:
      - http: "{{ api }}/search/{{ q }}?name={{ q }}&x=1"
      - http: { url: "{{ api }}/health" }
    apply: [ { run: "true" } ]
    rollback: [ { run: "true" } ]
`, { api: base, q });
    const r = await runCliAsync(['apply', ...args, '--yes']);
    expect(r.stdout + r.stderr).not.toContain('FAILED');
    expect(r.code).toBe(0);
    expect(seen[0]!.path).toBe(`/search/${q}`);
    expect(seen[0]!.query.get('name')).toBe(q);
    expect(seen[0]!.query.get('x')).toBe('1');
    expect([...seen[0]!.query.keys()]).toEqual(['name', 'x']);
    expect(seen[1]!.path).toBe('/health');
  });

  it('a base that is not an http(s) URL, and a header value with a line break, are errors naming the step', async () => {
    const sb = sandbox();
    const args = sb.runbook(`${header('api: "", h: ""')}changes:
  - id: url
    title: URL
    risk: 0
    verify:
      - http: "{{ api }}/health"
      - http: { url: "http://127.0.0.1:1/x", headers: { x-token: "{{ h }}" } }
    apply: [ { run: "true" } ]
    rollback: [ { run: "true" } ]
`, { api: 'file:///etc/passwd', h: 'a\r\nx-injected: 1' });
    const r = await runCliAsync(['plan', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('runbook.yaml:10:9: {{ api }} starts the URL, so it must be a URL base such as http://127.0.0.1:9191, got "file:///etc/passwd"');
    expect(r.stderr).toContain('runbook.yaml:11:9: cannot resolve http step: header x-token contains a line break');
  });
});
