// The real npm clients, wired the way an app wires them, plus small waiting helpers that never hang:
// every wait has a bound and fails with what was seen so far.
import { createClient } from '@supabase/supabase-js';
import { RealtimeClient } from '@supabase/realtime-js';
import ws from 'ws';
import { BASE_URL, WS_URL } from './env.mjs';
import { serviceToken } from './jwt.mjs';

const open = new Set();

// A supabase-js client (what apps use). Node 20 has no global WebSocket, so `ws` is the transport, as
// realtime-js's own error message recommends. `vsn` is passed through createClient's `realtime` options
// to RealtimeClient, which picks the JSON (1.0.0) or array/binary (2.0.0) serializer from it.
export function supabaseClient({ vsn, token, realtime = {}, url = BASE_URL }) {
  const log = [];
  const client = createClient(url, token, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: {
      vsn,
      transport: ws,
      timeout: 5000,
      logger: (kind, msg, data) => log.push([Date.now(), kind, msg, data]),
      ...realtime,
    },
  });
  const handle = { client, realtime: client.realtime, log };
  open.add(handle);
  return handle;
}

// realtime-js used directly, as a non-supabase-js app (or rtcache's own SDK) would.
export function realtimeClient({ vsn, token, options = {} }) {
  const log = [];
  const realtime = new RealtimeClient(`${BASE_URL.replace(/^http/, 'ws')}/realtime/v1`, {
    params: { apikey: token },
    vsn,
    transport: ws,
    timeout: 5000,
    logger: (kind, msg, data) => log.push([Date.now(), kind, msg, data]),
    ...options,
  });
  realtime.setAuth(token);
  const handle = { client: null, realtime, log };
  open.add(handle);
  return handle;
}

export async function closeAll() {
  const all = [...open];
  open.clear();
  await Promise.all(
    all.map(async (h) => {
      try {
        await withTimeout(h.realtime.removeAllChannels(), 3000, 'removeAllChannels');
      } catch {
        /* the server may be gone (restart test); disconnect regardless */
      }
      h.realtime.disconnect();
    }),
  );
}

// The last `n` log lines of a client, for failure messages.
export function tail(handle, n = 25) {
  return handle.log
    .slice(-n)
    .map(([t, kind, msg, data]) => `${t} ${kind} ${msg} ${data === undefined ? '' : safeJson(data)}`)
    .join('\n');
}

function safeJson(v) {
  try {
    const s = JSON.stringify(v, (_k, x) => (x instanceof ArrayBuffer ? `<ArrayBuffer ${x.byteLength}>` : x));
    return s && s.length > 400 ? `${s.slice(0, 400)}…` : s;
  } catch {
    return String(v);
  }
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Subscribes and resolves with the first terminal status: SUBSCRIBED, CHANNEL_ERROR, TIMED_OUT or CLOSED,
// plus the error realtime-js passed and every status seen. Join replies (ok or error) are recorded on
// `channel.joinReplies` for every (re)join, read from the join push as realtime-js exposes it.
export function subscribe(channel, { timeoutMs = 8000 } = {}) {
  recordJoinReplies(channel);
  const statuses = [];
  return withTimeout(
    new Promise((resolve) => {
      channel.subscribe((status, err) => {
        statuses.push([status, err?.message]);
        if (statuses.length === 1) resolve({ status, error: err, statuses });
      });
    }),
    timeoutMs,
    `subscribe ${channel.topic}`,
  );
}

export function recordJoinReplies(channel) {
  if (channel.joinReplies) return channel.joinReplies;
  const replies = [];
  channel.joinReplies = replies;
  channel.joinPush.receive('ok', (response) => replies.push({ status: 'ok', response, at: Date.now() }));
  channel.joinPush.receive('error', (response) => replies.push({ status: 'error', response, at: Date.now() }));
  return replies;
}

// Collects callback arguments; waitFor(n) resolves when at least n arrived.
export function collector(name = 'messages') {
  const items = [];
  const waiters = [];
  const push = (x) => {
    items.push(x);
    for (const w of [...waiters]) {
      if (items.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(items);
      }
    }
  };
  const waitFor = (n, ms = 5000) => {
    if (items.length >= n) return Promise.resolve(items);
    return withTimeout(
      new Promise((resolve) => waiters.push({ n, resolve })),
      ms,
      `${name}: wanted ${n}, got ${items.length}: ${JSON.stringify(items).slice(0, 600)}`,
    );
  };
  return { items, push, waitFor };
}

export async function until(pred, ms, what, stepMs = 50) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${ms} ms: ${what}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the backend's side: POST /v1/events and the REST broadcast ---------------------------------------------

export async function postEvents(events, { token = serviceToken(), path = '/v1/events', baseUrl = BASE_URL } = {}) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      apikey: token,
    },
    body: JSON.stringify(events),
  });
  const text = await res.text();
  return { status: res.status, text, json: parseOrNull(text) };
}

export async function restBroadcast(messages, { token = serviceToken(), path = '/api/broadcast', baseUrl = BASE_URL } = {}) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      apikey: token,
    },
    body: JSON.stringify({ messages }),
  });
  const text = await res.text();
  return { status: res.status, text, json: parseOrNull(text) };
}

function parseOrNull(t) {
  try {
    return JSON.parse(t);
  } catch {
    return null;
  }
}

// A contract event (docs/design.md §2) as a backend posts it.
export function woEvent({ id = '123', factoryId = 'f1', action = 'update', version = 1, changedKeys } = {}) {
  const e = { type: 'wo', id, factoryId, action };
  if (changedKeys) e.changedKeys = changedKeys;
  e.version = version;
  e.ts = new Date(Date.UTC(2025, 0, 1, 0, 0, version)).toISOString();
  return e;
}

// rtcache's resume position in a join reply. The gateway's reply shape is read here, in one place.
export function joinPosition(response) {
  const r = response?.rtcache ?? response ?? {};
  return { epoch: r.epoch, offset: r.offset, recovered: r.recovered };
}

// An rtcache app's resume bookkeeping on `ch`, in `app.position`: every invalidate's offset and every (re)join
// reply's position (a recovered:false one means: refetch, and go on from the position the server gives) put in
// the join payload. onInvalidate(payload) runs first on each invalidate, onJoin(position) last on each join reply.
export function keepPosition(ch, app, { onInvalidate = () => {}, onJoin = () => {} } = {}) {
  ch.on('broadcast', { event: 'invalidate' }, (m) => {
    onInvalidate(m.payload);
    app.position = { epoch: app.position.epoch, offset: m.payload.offset };
    ch.updateJoinPayload({ rtcache: app.position });
  });
  recordJoinReplies(ch);
  ch.joinPush.receive('ok', (response) => {
    const p = joinPosition(response);
    app.position = { epoch: p.epoch, offset: p.offset ?? 0 };
    ch.updateJoinPayload({ rtcache: app.position });
    onJoin(p);
  });
}

// A unique suffix so tests never share a channel by accident.
let seq = 0;
export const uniq = (prefix) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;

// The HTTP answer to a WebSocket upgrade with `query` (apikey=..&vsn=..): {status: 101}, or the refusal's status
// and body.
export function upgrade(query, { wsUrl = WS_URL } = {}) {
  return withTimeout(
    new Promise((resolve) => {
      const sock = new ws(`${wsUrl}/realtime/v1/websocket?${query}`);
      sock.on('open', () => {
        sock.close();
        resolve({ status: 101 });
      });
      sock.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      sock.on('error', () => {});
    }),
    4000,
    'upgrade',
  );
}
