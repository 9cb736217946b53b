// The reconnect storm of bench/cluster/storm.sh: every client of one node resumes on another node at once, and
// that node holds none of their views, so each join is answered by exact resume by range fetch from the stream
// (docs/cluster.md, (h)). Meanwhile a probe client on the second node receives an event every 5 ms; its delivery
// latency during the storm, against the same probe before it, shows whether the storm stalls the node's other
// connections. The probe runs in a process of its own (this script with `probe`), so that the storm's clients do
// not delay it in this process's event loop; both take times from the wall clock. Speaks the Supabase Realtime
// protocol (vsn 1.0.0) with Node's WebSocket (`node --experimental-websocket` on Node 20); tokens are HS256 JWTs
// signed with node:crypto's HMAC.
//   node --experimental-websocket storm.mjs NODE1_URL NODE2_URL JWT_SECRET CLIENTS EVENTS_PER_DOC
//   node --experimental-websocket storm.mjs probe NODE1_URL NODE2_URL JWT_SECRET   (the probe: prints "ready",
//     then "<received at, wall ms> <latency ms>" per event, until killed)
// NODEn_URL: http://127.0.0.1:PORT. Events are POSTed to node 1. Prints `name value unit` lines:
//   storm.clients, storm.joined_recovered, storm.joined_not_recovered, storm.busy_refusals (joins refused
//   "NodeNotReady: busy", retried after 100 ms), storm.other_refusals, storm.replayed (messages replayed, expected
//   clients × events_per_doc), storm.duration_ms (first connect to the last join answered), storm.joins_per_s,
//   probe.before_p50_ms / _p99_ms / _max_ms (2 s before the storm), probe.during_p50_ms / _p99_ms / _max_ms
//   (from the storm's first connect to its last join answered).
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const probeMode = process.argv[2] === 'probe';
const [node1, node2, secret, clientsArg, perDocArg] = process.argv.slice(probeMode ? 3 : 2);
if (!node1 || !node2 || !secret || (!probeMode && (!clientsArg || !perDocArg))) {
  console.error('usage: storm.mjs NODE1_URL NODE2_URL JWT_SECRET CLIENTS EVENTS_PER_DOC | probe NODE1 NODE2 SECRET');
  process.exit(2);
}
const clients = Number(clientsArg);
const perDoc = Number(perDocArg);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => performance.timeOrigin + performance.now(); // wall clock, ms, µs precision
const token = (() => {
  const iat = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ role: 'service_role', iat, exp: iat + 3600 })}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
})();
const wsUrl = (base) => `${base.replace(/^http/, 'ws')}/realtime/v1/websocket?apikey=${token}&vsn=1.0.0`;
const fail = (why) => {
  console.error(`storm.mjs: ${why}`);
  process.exit(1);
};

async function post(events) {
  const res = await fetch(`${node1}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 202) fail(`POST /v1/events answered ${res.status}: ${await res.text()}`);
}

// One connection that joins `topic` (with `rtcache` as the resume position, if given). Resolves with the join's
// answer: {status, response, replayed}; `onEvent(payload)` gets every broadcast after the answer.
function join(base, topic, rtcache, onEvent) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl(base));
    let ref = 0;
    let joinRef = '';
    let replayed = 0;
    let answered = false;
    const send = (t, event, payload) => ws.send(JSON.stringify({ topic: t, event, payload, ref: String(++ref) }));
    const attempt = () => {
      joinRef = String(ref + 1);
      const payload = { config: { broadcast: { self: false }, presence: { key: '' }, postgres_changes: [] } };
      if (rtcache) payload.rtcache = rtcache;
      send(topic, 'phx_join', payload);
    };
    ws.addEventListener('open', attempt);
    ws.addEventListener('message', (m) => {
      const f = JSON.parse(m.data);
      if (f.topic !== topic) return;
      if (f.event === 'phx_reply' && f.ref === joinRef) {
        const reason = f.payload.response?.reason ?? '';
        if (f.payload.status !== 'ok' && reason.startsWith('NodeNotReady: busy')) {
          ws.busy = (ws.busy ?? 0) + 1;
          setTimeout(attempt, 100);
          return;
        }
        answered = true;
        resolve({ ws, status: f.payload.status, response: f.payload.response, busy: ws.busy ?? 0, replayed: () => replayed });
      } else if (f.event === 'broadcast') {
        if (!answered) return;
        replayed++;
        if (onEvent) onEvent(f.payload.payload);
      }
    });
    ws.addEventListener('error', () => fail(`a connection to ${base} failed`));
  });
}

function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN);
  return { p50: at(0.5), p99: at(0.99), max: s.length ? s[s.length - 1] : NaN };
}
const figure = (name, value, unit) => console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);

if (probeMode) {
  // The probe: doc:wo:probe on node 2, an event POSTed to node 1 every 5 ms (its version: the send time, µs).
  const probe = await join(node2, 'realtime:doc:wo:probe', null, (p) => {
    const at = now();
    process.stdout.write(`${at.toFixed(3)} ${(at - p.version / 1000).toFixed(3)}\n`);
  });
  if (probe.status !== 'ok') fail('the probe could not join node 2');
  process.stdout.write('ready\n');
  setInterval(() => {
    post([{ type: 'wo', id: 'probe', factoryId: 'f1', action: 'update', version: Math.round(now() * 1000) }]);
  }, 5);
  await new Promise(() => {});
}

// 1. Every client joins its own document on node 1 and keeps its position; then all leave.
const docs = Array.from({ length: clients }, (_, i) => `s${i}`);
const positions = [];
for (let i = 0; i < clients; i += 200) {
  const batch = await Promise.all(docs.slice(i, i + 200).map((d) => join(node1, `realtime:doc:wo:${d}`)));
  for (const j of batch) {
    if (j.status !== 'ok' || !j.response?.rtcache) fail(`a join on node 1 failed: ${JSON.stringify(j.response)}`);
    positions.push({ epoch: j.response.rtcache.epoch, offset: j.response.rtcache.offset });
    j.ws.close();
  }
}

// 2. What the clients miss, POSTed to node 1; a marker's arrival on node 2 proves node 2 applied it all.
let marker = null;
const watcher = await join(node2, 'realtime:doc:wo:marker', null, () => marker?.());
if (watcher.status !== 'ok') fail('the marker watcher could not join node 2');
const events = [];
for (let k = 0; k < perDoc; k++) for (const d of docs) events.push({ type: 'wo', id: d, factoryId: 'f1', action: 'update' });
for (let i = 0; i < events.length; i += 500) await post(events.slice(i, i + 500));
await new Promise((resolve) => {
  marker = resolve;
  post([{ type: 'wo', id: 'marker', factoryId: 'f1', action: 'update' }]);
});
watcher.ws.close();

// 3. The probe, in a process of its own, 2 s before the storm.
const samples = [];
const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'probe', node1, node2, secret], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => {
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') return resolve();
    const [at, ms] = line.split(' ').map(Number);
    samples.push({ at, ms });
  });
  child.on('exit', (code) => fail(`the probe exited (${code})`));
});
const probeStart = now();
await new Promise((r) => setTimeout(r, 2000));
const before = percentiles(samples.filter((s) => s.at >= probeStart).map((s) => s.ms));

// 4. The storm: every client resumes on node 2 at once.
const start = now();
const answers = await Promise.all(docs.map((d, i) => join(node2, `realtime:doc:wo:${d}`, positions[i])));
const end = now();
await new Promise((r) => setTimeout(r, 500)); // replays still in flight are counted
child.removeAllListeners('exit');
child.kill();
const during = percentiles(samples.filter((s) => s.at >= start && s.at <= end).map((s) => s.ms));

let recovered = 0;
let notRecovered = 0;
let other = 0;
let busy = 0;
let replayed = 0;
for (const a of answers) {
  busy += a.busy;
  replayed += a.replayed();
  if (a.status !== 'ok') other++;
  else if (a.response?.rtcache?.recovered) recovered++;
  else notRecovered++;
  a.ws.close();
}
figure('storm.clients', clients, 'clients');
figure('storm.joined_recovered', recovered, 'joins');
figure('storm.joined_not_recovered', notRecovered, 'joins');
figure('storm.busy_refusals', busy, 'joins');
figure('storm.other_refusals', other, 'joins');
figure('storm.replayed', replayed, 'messages');
figure('storm.duration_ms', end - start, 'ms');
figure('storm.joins_per_s', (clients / (end - start)) * 1000, 'joins/s');
figure('probe.before_p50_ms', before.p50, 'ms');
figure('probe.before_p99_ms', before.p99, 'ms');
figure('probe.before_max_ms', before.max, 'ms');
figure('probe.during_p50_ms', during.p50, 'ms');
figure('probe.during_p99_ms', during.p99, 'ms');
figure('probe.during_max_ms', during.max, 'ms');
figure('probe.during_samples', samples.filter((s) => s.at >= start && s.at <= end).length, 'events');
process.exit(0);
