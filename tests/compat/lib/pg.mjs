// The PostgreSQL phase's side of things (scripts/compat-pg.sh): the database the source replicates from, written
// to with the `pg` client exactly as an application's backend would, and the server started with `serve -c`.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { BASE_URL, BIN, PID_FILE, SERVER_LOG } from './env.mjs';
import { sleep } from './clients.mjs';
import { killPid, waitReady } from './server.mjs';

export const CONNINFO = required('RTCACHE_PG_CONNINFO');
export const CONFIG = required('RTCACHE_CONFIG');

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/compat/test/pg through scripts/compat-pg.sh`);
  return v;
}

// libpq's "key=value" conninfo as pg's client config.
function clientConfig(conninfo) {
  const c = {};
  for (const part of conninfo.trim().split(/\s+/)) {
    const [k, v] = part.split('=');
    if (k === 'dbname') c.database = v;
    else if (k === 'port') c.port = Number(v);
    else c[k] = v;
  }
  return c;
}

let pool = null;
export function db() {
  pool ??= new pg.Pool({ ...clientConfig(CONNINFO), max: 4 });
  return pool;
}

export async function sql(text, params = []) {
  return db().query(text, params);
}

export async function closeDb() {
  if (pool) {
    const p = pool;
    pool = null;
    await p.end();
  }
}

// A work order row; each write bumps `version` (the contract's version column) in the same statement.
export async function insertWo({ id, factory = 'f1', status = 'open', qty = 0, notes = 'internal' }) {
  const r = await sql(
    'INSERT INTO work_orders (id, factory_id, status, qty, internal_notes) VALUES ($1, $2, $3, $4, $5) RETURNING *',
    [id, factory, status, qty, notes],
  );
  return r.rows[0];
}

export async function updateWo(id, set) {
  const cols = Object.keys(set);
  const assigns = cols.map((c, i) => `${c} = $${i + 2}`).join(', ');
  const r = await sql(
    `UPDATE work_orders SET ${assigns}${assigns ? ', ' : ''}version = version + 1 WHERE id = $1 RETURNING *`,
    [id, ...cols.map((c) => set[c])],
  );
  return r.rows[0];
}

export async function deleteWo(id) {
  const r = await sql('DELETE FROM work_orders WHERE id = $1 RETURNING *', [id]);
  return r.rows[0];
}

// ---- the server: metrics, kill -9, restart with the same config ------------------------------------------

export async function metric(name) {
  const res = await fetch(`${BASE_URL}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

export async function waitStreaming(timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await metric('rtcache_replication_connected');
      if (last === 1) return;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(50);
  }
  throw new Error(`replication not connected after ${timeoutMs} ms (rtcache_replication_connected: ${last})`);
}

export function serverPid() {
  return Number(readFileSync(PID_FILE, 'utf8').trim());
}

// SIGKILL: no drain, no final standby status; the slot keeps the last position the source confirmed.
export async function killServer() {
  await killPid(serverPid(), 'server');
}

// Starts `rtcache serve -c CONFIG` on the same address (RTCACHE_LISTEN and the secret come from the
// environment scripts/compat-pg.sh set) and records its pid where the script's exit trap finds it.
export async function startPgServer(timeoutMs = 15000) {
  const log = openSync(SERVER_LOG, 'a');
  const child = spawn(BIN, ['serve', '-c', CONFIG], { env: process.env, stdio: ['ignore', log, log], detached: true });
  child.unref();
  writeFileSync(PID_FILE, `${child.pid}\n`);
  await waitReady(timeoutMs);
  return child.pid;
}

// ---- what the client saw ---------------------------------------------------------------------------------

// The raw postgres_changes pushes a client received (decoded by realtime-js's serializer, before its
// callback transformation drops `columns`), read from the client's logger.
export function rawChanges(handle, topic) {
  return handle.log
    .filter(([, kind, msg, data]) => {
      if (kind !== 'receive' || typeof msg !== 'string' || !data) return false;
      const words = msg.split(' ');
      return words.includes(topic) && words.includes('postgres_changes');
    })
    .map(([, , , data]) => data);
}
