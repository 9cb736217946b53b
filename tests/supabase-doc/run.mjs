// docs/supabase.md's snippets against a local stand-in of a Supabase project. scripts/supabase-doc-test.sh
// starts PostgreSQL and copies this file into a work directory whose node_modules holds the SDK and
// supabase-js; this runner extracts every block tagged `supabase-test:<name>` from the page as written, fills
// its placeholders, and runs it: the SQL through psql, the config through `rtcache check-config` and
// `rtcache serve`, the JavaScript as modules an app would import, the nginx blocks inside a minimal nginx.conf.
// Prints one line per case and, last, `supabase-doc: N passed, M failed`.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { QueryObserver } from '@tanstack/query-core';
import { realtimeQueryOptions } from '@rtcache/sdk';
import { SupabaseStandIn } from './standin.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run scripts/supabase-doc-test.sh)`);
  return v;
};
const ROOT = env('SUPABASE_DOC_ROOT');
const WORK = env('SUPABASE_DOC_WORK');
const RTCACHE_BIN = env('RTCACHE_BIN');
const NGINX_BIN = env('NGINX_BIN');
const PSQL_BIN = env('PSQL_BIN');
const PG_PORT = env('PG_PORT');
const DOC = join(ROOT, 'docs/supabase.md');
const LOGS = join(WORK, 'logs');
const SNIPPETS = join(WORK, 'snippets');
mkdirSync(SNIPPETS, { recursive: true });

// ---- the page's blocks ----

// Every fenced block whose info string is `<lang> supabase-test:<name>`, by name. A tag twice, an unclosed
// block, or a tag with anything after it is a problem the first case reports.
function extract(markdown) {
  const blocks = new Map();
  const problems = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('```') || !lines[i].includes('supabase-test:')) continue;
    const m = /^```(\S+) supabase-test:([a-z0-9-]+)$/.exec(lines[i]);
    if (!m) {
      problems.push(`line ${i + 1}: a tagged block must open with "\`\`\`<lang> supabase-test:<name>", not ${JSON.stringify(lines[i])}`);
      continue;
    }
    let j = i + 1;
    while (j < lines.length && lines[j] !== '```') j++;
    if (j >= lines.length) problems.push(`line ${i + 1}: block ${m[2]} is never closed`);
    if (blocks.has(m[2])) problems.push(`line ${i + 1}: block ${m[2]} appears twice`);
    blocks.set(m[2], { lang: m[1], line: i + 1, text: lines.slice(i + 1, j).join('\n') + '\n' });
    i = j;
  }
  return { blocks, problems };
}
const page = extract(readFileSync(DOC, 'utf8'));
const used = new Set();
function block(name) {
  const b = page.blocks.get(name);
  if (!b) throw new Error(`docs/supabase.md has no block tagged supabase-test:${name}`);
  used.add(name);
  return b.text;
}

// The test's values for the page's placeholders. A placeholder not listed here fails the case that uses it.
const secret = randomBytes(32).toString('hex');
const apiKey = (kind) => `sb_${kind}_${randomBytes(16).toString('base64url')}_${randomBytes(6).toString('base64url')}`;
const placeholders = {
  'project-ref': 'abcdefghijklmnopqrst',
  'db-password': randomBytes(12).toString('hex'),
  'legacy-jwt-secret': secret,
  'publishable-key': apiKey('publishable'),
  'secret-key': apiKey('secret'),
};
function fill(text) {
  return text.replace(/<([a-z][a-z0-9-]*)>/g, (whole, name) => {
    if (!(name in placeholders)) throw new Error(`unknown placeholder ${whole}: add a test value for it`);
    return placeholders[name];
  });
}
// Hosts of the hosted project -> the local stand-ins (then placeholders as above).
let standinUrl = '';
let rtPort = 0;
function localize(text) {
  return fill(
    text
      .replaceAll('https://<project-ref>.supabase.co', standinUrl)
      .replace(/host=db\.<project-ref>\.supabase\.co port=5432/g, `host=127.0.0.1 port=${PG_PORT}`)
      .replace(/ ssl(mode|rootcert)=[^ "]*/g, '') // the local cluster has no TLS
      .replaceAll('127.0.0.1:4000', `127.0.0.1:${rtPort}`),
  );
}
function write(name, text) {
  const path = join(SNIPPETS, name);
  writeFileSync(path, text);
  return path;
}

// ---- PostgreSQL ----

const conninfo = (user = 'postgres') => `host=127.0.0.1 port=${PG_PORT} dbname=postgres user=${user}`;
// Runs SQL (stdin, so psql variables :'name' work) as `postgres`; returns unaligned output, throws on error.
function psql(sql, vars = {}) {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', conninfo()];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  try {
    return execFileSync(PSQL_BIN, args, { input: sql, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`psql: ${(e.stderr || e.message).trim()}`);
  }
}
// The same, expecting an error; returns its text.
function psqlError(sql) {
  try {
    psql(sql);
  } catch (e) {
    return e.message;
  }
  throw new Error(`expected an error from: ${sql.trim()}`);
}

// What the test emulates of a Supabase project's database (docs/supabase.md, "How this page is tested"), then
// the demo's schema and seed, owned by postgres as an app's tables are on Supabase.
const SUPABASE_EMULATION = `
create role anon nologin;
create role authenticated nologin;
create role service_role nologin bypassrls;
create role supabase_auth_admin nologin;
revoke all on schema public from public;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
create schema auth;
create table auth.users (id uuid primary key, email text unique not null);
grant usage on schema auth to supabase_auth_admin;
grant select on auth.users to supabase_auth_admin;
`;
const ANA = { id: randomUUID(), email: 'ana@example.com' }; // member of f1
const BO = { id: randomUUID(), email: 'bo@example.com' }; // no memberships

// ---- processes and waiting ----

const children = [];
function start(name, command, args, options = {}) {
  const log = openSync(join(LOGS, `${name}.log`), 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log], ...options });
  closeSync(log);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  children.push(child);
  return { child, exited, log: () => readFileSync(join(LOGS, `${name}.log`), 'utf8') };
}
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await sleep(50);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}
const b64url = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
function hs256(claims) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url(claims);
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}

// ---- cases ----

const cases = [];
const test = (name, fn, needs = []) => cases.push({ name, fn, needs });
const results = new Map(); // name -> true/false

const standin = new SupabaseStandIn({ psql });
let rtcache; // { child, exited, log }
let nginx;
const rtUrl = () => `http://127.0.0.1:${rtPort}`;
let proxyPort = 0;

// Loads a row of public.work_orders as the app's API would (the view's queryFn).
function loadWorkOrder(id) {
  return JSON.parse(psql('select row_to_json(w) from public.work_orders w where id = :id;\n', { id }).trim());
}
function pickWorkOrder(status) {
  return psql(`select id from public.work_orders where factory_id = 'f1' and status <> '${status}' order by id limit 1;\n`).trim();
}

// A signed-in user's view of one work order through `app` (what a snippet's connect() returned): the doc view
// opens, a committed UPDATE reaches it through rtcache, and the cached row is patched from the event.
async function viewSeesCommittedUpdate(app, status) {
  const id = pickWorkOrder(status);
  let loads = 0;
  const observer = new QueryObserver(
    app.queryClient,
    realtimeQueryOptions({ doc: ['wo', id], queryFn: async () => (loads++, loadWorkOrder(id)) }),
  );
  let data;
  const unsubscribe = observer.subscribe((r) => (data = r.data));
  try {
    await waitFor('the first load of the view', () => data && loads === 1);
    await waitFor(`doc:wo:${id} and factory:f1 joined`, () => app.rt.status().connected && app.rt.status().channels >= 2);
    const before = data.version;
    psql(`update public.work_orders set status = '${status}' where id = ${id};\n`);
    await waitFor(`status ${status} in the cached row`, () => data.status === status && data.version === before + 1);
    const stats = app.rt.stats();
    assert(stats.received >= 1, `the SDK received nothing: ${JSON.stringify(stats)}`);
    assert(stats.patched >= 1, `the row was not patched from the event: ${JSON.stringify(stats)}`);
    assert(loads === 1, `the view was loaded ${loads} times; an event with changedKeys and patch needs no refetch`);
  } finally {
    unsubscribe();
  }
}

test('every tagged block is well formed', () => {
  assert(page.problems.length === 0, page.problems.join('; '));
  assert(page.blocks.size > 0, 'no tagged block in docs/supabase.md');
});

test('setup: the emulated Supabase database with the demo schema', () => {
  psql(SUPABASE_EMULATION);
  for (const f of ['schema.sql', 'seed.sql']) psql(readFileSync(join(ROOT, 'examples/factory-app/db', f), 'utf8'));
  // An app that never touched it: the default identity, so the page's ALTER TABLE is what makes it FULL.
  psql('alter table public.work_orders replica identity default;\n');
  psql(`insert into auth.users (id, email) values ('${ANA.id}', '${ANA.email}'), ('${BO.id}', '${BO.email}');\n`);
});

test('settings: the query runs and wal_level is logical', () => {
  const out = psql(block('settings')).trim().split('\n');
  assert(out[0] === 'logical', `wal_level: ${out[0]}`);
}, ['setup: the emulated Supabase database with the demo schema']);

test('replication-role: LOGIN and REPLICATION, not superuser, no SELECT on the tables', () => {
  psql(fill(block('replication-role')));
  const row = psql(
    "select rolcanlogin, rolreplication, rolsuper, has_table_privilege('rtcache_replicator', 'public.work_orders', 'select') from pg_roles where rolname = 'rtcache_replicator';\n",
  ).trim();
  assert(row === 't|t|f|f', `rtcache_replicator: ${row || 'missing'} (login|replication|superuser|select)`);
}, ['setup: the emulated Supabase database with the demo schema']);

test('publication: publishes work_orders, whose identity becomes FULL', () => {
  const identity = () => psql("select relreplident from pg_class where oid = 'public.work_orders'::regclass;\n").trim();
  assert(identity() === 'd', `replica identity before: ${identity()}`);
  psql(fill(block('publication')));
  const tables = psql("select schemaname || '.' || tablename from pg_publication_tables where pubname = 'rtcache';\n").trim();
  assert(tables === 'public.work_orders', `publication rtcache holds: ${tables || 'nothing'}`);
  assert(identity() === 'f', `replica identity after: ${identity()}`);
}, ['setup: the emulated Supabase database with the demo schema']);

test('memberships and hook: only supabase_auth_admin may run the hook and read the memberships', () => {
  psql(fill(block('memberships')));
  psql(fill(block('hook')));
  psql(`insert into public.factory_members (user_id, factory_id) values ('${ANA.id}', 'f1');\n`);
  const run = `select public.custom_access_token_hook('{"user_id":"${ANA.id}","claims":{}}'::jsonb);\n`;
  for (const role of ['authenticated', 'anon']) {
    const e = psqlError(`set role ${role};\n${run}`);
    assert(/permission denied for function custom_access_token_hook/.test(e), `${role} running the hook: ${e}`);
    const t = psqlError(`set role ${role};\nselect * from public.factory_members;\n`);
    assert(/permission denied for table factory_members/.test(t), `${role} reading memberships: ${t}`);
  }
}, ['setup: the emulated Supabase database with the demo schema']);

test('hook output: factory_ids from the memberships, Supabase app_metadata kept, [] without memberships', () => {
  const ana = standin.runHook(standin.event(ANA)).claims;
  assert(isDeepStrictEqual(ana.app_metadata.factory_ids, ['f1']), `member of f1: ${JSON.stringify(ana.app_metadata)}`);
  assert(ana.app_metadata.provider === 'email', `provider lost: ${JSON.stringify(ana.app_metadata)}`);
  assert(ana.role === 'authenticated' && ana.sub === ANA.id, `claims changed: ${JSON.stringify(ana)}`);
  const bo = standin.runHook(standin.event(BO)).claims;
  assert(isDeepStrictEqual(bo.app_metadata.factory_ids, []), `no memberships: ${JSON.stringify(bo.app_metadata)}`);
}, ['memberships and hook: only supabase_auth_admin may run the hook and read the memberships']);

// NAME="value" lines of the environment block.
function envNames(text) {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const m = /^([A-Z][A-Z0-9_]*)=/.exec(l);
      if (!m) throw new Error(`not a NAME=value line: ${l}`);
      return m[1];
    });
}
test('env: every variable is one docs/operations.md lists', () => {
  const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const names = envNames(block('env'));
  assert(names.length > 0, 'no variable');
  for (const n of names) assert(operations.includes(`| \`${n}\` |`), `${n} is not in docs/operations.md's Environment table`);
});

// Runs the rtcache binary with the environment block sourced by sh, as the page's systemd/check-config lines do,
// and nothing else of this process's RTCACHE_* environment.
function withEnvFile(envFile, args) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTCACHE_')));
  return ['/bin/sh', ['-c', 'set -a; . "$0"; exec "$@"', envFile, RTCACHE_BIN, ...args], { env: clean }];
}

test('check-config: the config with the environment block, placeholders filled', () => {
  const config = write('rtcache.toml', fill(block('config')));
  const envFile = write('rtcache.env', fill(block('env')));
  const [cmd, args, options] = withEnvFile(envFile, ['check-config', config]);
  let out;
  try {
    out = execFileSync(cmd, args, { ...options, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`check-config refused it: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
  assert(/^ok: .*tables 1, postgres on/m.test(out), `check-config said: ${out.trim()}`);
});

test('serve: streams as rtcache_replicator, no pg_problem, takes the secret key and the legacy secret', async () => {
  const config = write('rtcache.local.toml', localize(block('config')));
  const envFile = write('rtcache.local.env', localize(block('env')));
  const [cmd, args, options] = withEnvFile(envFile, ['serve', '-c', config]);
  rtcache = start('rtcache', cmd, args, options);
  await waitFor('rtcache /readyz', async () => (await fetch(`${rtUrl()}/readyz`)).ok);
  await waitFor('rtcache_replication_connected 1', async () =>
    /^rtcache_replication_connected 1$/m.test(await (await fetch(`${rtUrl()}/metrics`)).text()),
  );
  await waitFor('auth.jwks_loaded (the stand-in project\'s JWKS)', () => /event=auth\.jwks_loaded/.test(rtcache.log()));
  const log = rtcache.log();
  assert(/event=pg\.slot_created/.test(log), 'no pg.slot_created in the log');
  const problems = log.split('\n').filter((l) => /event=pg_problem/.test(l));
  assert(problems.length === 0, `pg_problem: ${problems.join(' | ')}`);
  const who = psql('select usename from pg_stat_replication;\n').trim();
  assert(who.split('\n').includes('rtcache_replicator'), `pg_stat_replication users: ${who || 'none'}`);
  for (const [label, token] of [
    ['secret key', placeholders['secret-key']],
    ['legacy secret', hs256({ role: 'service_role', exp: Math.floor(Date.now() / 1000) + 600 })],
  ]) {
    const res = await fetch(`${rtUrl()}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, apikey: token },
      body: JSON.stringify({ messages: [{ topic: 'room:lobby', event: 'ping', payload: {} }] }),
    });
    assert(res.status === 202, `${label}: ${res.status} ${await res.text()}`);
  }
}, [
  'replication-role: LOGIN and REPLICATION, not superuser, no SELECT on the tables',
  'publication: publishes work_orders, whose identity becomes FULL',
  'check-config: the config with the environment block, placeholders filled',
]);

const SERVE = 'serve: streams as rtcache_replicator, no pg_problem, takes the secret key and the legacy secret';
const HOOK = 'hook output: factory_ids from the memberships, Supabase app_metadata kept, [] without memberships';

test('slot-status: the slot is there and active', () => {
  const row = psql(block('slot-status')).trim();
  assert(/^rtcache\|t\|(reserved|extended)\|/.test(row), `slot-status: ${row || 'no row'}`);
}, [SERVE]);

async function importSnippet(name) {
  const path = write(`${name}.mjs`, block(name));
  return import(pathToFileURL(path).href);
}

test('way (a): a signed-in user sees a committed update through rtcache, patched without a refetch', async () => {
  const { connect } = await importSnippet('client-second');
  const app = connect({
    supabaseUrl: standinUrl,
    rtcacheUrl: rtUrl(),
    publishableKey: placeholders['publishable-key'],
    factoryId: 'f1',
    realtime: { transport: ws },
  });
  try {
    const { data, error } = await app.supabase.auth.signInWithPassword({ email: ANA.email, password: 'any' });
    assert(!error, `sign-in: ${error?.message}`);
    await waitFor('the user token handed to the rtcache client', () => app.rtcache.realtime.accessTokenValue === data.session.access_token);
    await viewSeesCommittedUpdate(app, 'approved');
  } finally {
    await app.rt.dispose();
    app.rtcache.realtime.disconnect();
    app.supabase.auth.stopAutoRefresh();
  }
}, [SERVE, HOOK]);

test('scope: a user without memberships is accepted, and refused a factory list', async () => {
  const { data } = await createClient(standinUrl, placeholders['publishable-key'], {
    auth: { persistSession: false, autoRefreshToken: false },
  }).auth.signInWithPassword({ email: BO.email, password: 'any' });
  const token = data?.session?.access_token;
  assert(token, 'bo could not sign in at the stand-in');
  const client = createClient(rtUrl(), placeholders['publishable-key'], {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws },
  });
  try {
    await client.realtime.setAuth(token);
    const join = (topic) =>
      new Promise((resolve) => {
        const ch = client.channel(topic);
        ch.subscribe((status, err) => {
          if (status === 'SUBSCRIBED' || status === 'CHANNEL_ERROR') resolve({ status, reason: err?.message ?? '' });
        });
        setTimeout(() => resolve({ status: 'TIMED_OUT' }), 8000);
      });
    const doc = await join('doc:wo:1');
    assert(doc.status === 'SUBSCRIBED', `doc:wo:1 with an empty scope: ${JSON.stringify(doc)}`);
    const list = await join('list:wo:f1');
    assert(list.status === 'CHANNEL_ERROR' && /Unauthorized/.test(list.reason), `list:wo:f1: ${JSON.stringify(list)}`);
  } finally {
    client.realtime.disconnect();
  }
}, [SERVE, HOOK]);

function nginxConf() {
  const prefix = join(WORK, 'nginx');
  mkdirSync(prefix, { recursive: true });
  // The page's two blocks inside the least an nginx.conf needs: one process, logs and temp files in the work
  // directory, the app's server on a free port.
  const conf = `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${LOGS}/nginx-error.log;
events {}
http {
  access_log ${LOGS}/nginx-access.log;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${localize(block('nginx-http'))}
  server {
    listen 127.0.0.1:${proxyPort};
${localize(block('nginx-server'))}
  }
}
`;
  const path = join(prefix, 'nginx.conf');
  writeFileSync(path, conf);
  return { prefix, path };
}
const nginxArgs = ({ prefix, path }) => ['-p', prefix, '-c', path, '-e', join(LOGS, 'nginx-error.log')];

test('nginx -t: the two nginx blocks inside a server', () => {
  const conf = nginxConf();
  try {
    execFileSync(NGINX_BIN, ['-t', ...nginxArgs(conf)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`nginx -t: ${(e.stderr || e.message).trim()}`);
  }
});

test('nginx: a plain path and /metrics reach the stand-in Supabase, not rtcache', async () => {
  nginx = start('nginx', NGINX_BIN, nginxArgs(nginxConf()));
  const proxy = `http://127.0.0.1:${proxyPort}`;
  await waitFor('nginx', async () => (await fetch(`${proxy}/rest/v1/work_orders?select=id`)).ok);
  for (const path of ['/rest/v1/work_orders', '/metrics']) {
    const res = await fetch(`${proxy}${path}`);
    const body = await res.text();
    assert(res.ok && JSON.parse(body).upstream === 'supabase', `${path} through nginx: ${res.status} ${body.slice(0, 120)}`);
  }
}, [SERVE, 'nginx -t: the two nginx blocks inside a server']);

test('way (b): behind nginx, sign-in reaches the stand-in and an update arrives through the proxied WebSocket', async () => {
  const { connect } = await importSnippet('client-proxy');
  const app = connect({
    appUrl: `http://127.0.0.1:${proxyPort}`,
    publishableKey: placeholders['publishable-key'],
    factoryId: 'f1',
    realtime: { transport: ws },
  });
  const signIns = standin.tokenRequests;
  try {
    const { data, error } = await app.supabase.auth.signInWithPassword({ email: ANA.email, password: 'any' });
    assert(!error, `sign-in through nginx: ${error?.message}`);
    assert(standin.tokenRequests === signIns + 1, 'the sign-in did not reach the stand-in');
    await waitFor('the user token on the realtime client', () => app.supabase.realtime.accessTokenValue === data.session.access_token);
    await viewSeesCommittedUpdate(app, 'rejected');
  } finally {
    await app.rt.dispose();
    app.supabase.realtime.disconnect();
    app.supabase.auth.stopAutoRefresh();
  }
  // nginx writes an upgraded request's line when the connection ends.
  await waitFor('the 101 upgrade in nginx\'s access log', () =>
    /"GET \/realtime\/v1\/websocket\?[^"]* HTTP\/1\.1" 101 /.test(readFileSync(join(LOGS, 'nginx-access.log'), 'utf8')),
  );
}, ['nginx: a plain path and /metrics reach the stand-in Supabase, not rtcache', HOOK]);

test('slot-drop: after rtcache stops, the slot and the publication are gone', async () => {
  rtcache.child.kill('SIGTERM');
  const { code } = await rtcache.exited;
  assert(code === 0, `rtcache exited ${code}`);
  await waitFor('the slot inactive', () => psql("select active from pg_replication_slots where slot_name = 'rtcache';\n").trim() === 'f');
  psql(block('slot-drop'));
  const left = psql(
    "select (select count(*) from pg_replication_slots where slot_name = 'rtcache') || '|' || (select count(*) from pg_publication where pubname = 'rtcache');\n",
  ).trim();
  assert(left === '0|0', `slots|publications named rtcache left: ${left}`);
}, [SERVE]);

// ---- run ----

let passed = 0;
let failed = 0;
async function main() {
  standinUrl = await standin.listen();
  rtPort = await freePort();
  proxyPort = await freePort();
  for (const c of cases) {
    const missing = c.needs.filter((n) => results.get(n) !== true);
    const started = Date.now();
    try {
      if (missing.length) throw new Error(`not run: needs "${missing.join('", "')}"`);
      await c.fn();
      results.set(c.name, true);
      passed++;
      console.log(`ok   ${c.name} (${Date.now() - started} ms)`);
    } catch (e) {
      results.set(c.name, false);
      failed++;
      console.log(`FAIL ${c.name}: ${e.message}`);
    }
  }
  // Last: a tagged block no case ran is a snippet nobody checks.
  const unused = [...page.blocks.keys()].filter((n) => !used.has(n));
  if (unused.length === 0) {
    passed++;
    console.log('ok   every tagged block was run by a case');
  } else {
    failed++;
    console.log(`FAIL every tagged block was run by a case: not run: ${unused.join(', ')}`);
  }
  nginx?.child.kill('SIGTERM');
  rtcache?.child.kill('SIGTERM');
  await standin.close();
  console.log(`supabase-doc: ${passed} passed, ${failed} failed`);
}

main().then(
  () => process.exit(failed === 0 ? 0 : 1),
  (e) => {
    console.log(`FAIL runner: ${e.stack ?? e}`);
    console.log(`supabase-doc: ${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  },
);
