// Shared helpers of the browser suite: the rtcache process it owns (start, kill -9, restart), the factory API
// seen from the server side (service-role writes, the request log), and a page wrapper that records every
// WebSocket frame the app sends and receives (Playwright's websocket events, i.e. CDP Network.webSocket*).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import pg from 'pg';

export const env = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback === undefined) throw new Error(`${name} is not set (scripts/e2e.sh sets it)`);
    return fallback;
  }
  return v;
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns a truthy value; throws `what` with the last value after `timeoutMs`.
export async function waitFor(what, fn, timeoutMs = 15000, everyMs = 50) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

// ---- rtcache, owned by the suite so it can be killed and restarted ----

export class RtcacheProcess {
  constructor({ bin, config, listen, secret, conninfo, logFile }) {
    this.opts = { bin, config, listen, secret, conninfo };
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = null;
  }

  get url() {
    return `http://${this.opts.listen}`;
  }

  async start() {
    const { bin, config, listen, secret, conninfo } = this.opts;
    this.log.write(`--- start ${new Date().toISOString()}\n`);
    const child = spawn(bin, ['serve', '-c', config], {
      env: { ...process.env, RTCACHE_LISTEN: listen, RTCACHE_JWT_SECRET: secret, RTCACHE_PG_CONNINFO: conninfo },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child = child;
    await waitFor('rtcache /readyz', async () => {
      if (child.exitCode !== null) throw new Error(`rtcache exited with ${child.exitCode} (see its log)`);
      try {
        return (await fetch(`${this.url}/readyz`)).ok;
      } catch {
        return false;
      }
    }, 20000, 100);
  }

  async kill9() {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  async stop() {
    if (!this.child) return;
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
    this.child = null;
  }
}

// ---- a TCP proxy in front of rtcache that can hold a channel's join (test only) ----

// The browser reaches rtcache through this proxy (the web app's /realtime proxy points at it). Bytes pass
// through untouched, except that `holdJoin(topic)` holds the next phx_join the browser sends for that topic —
// and everything the browser sends after it on that socket — until released: on the server the channel is
// not live meanwhile, so a change committed then reaches the client only through its data, never through the
// stream. That is the window the SDK's join gate closes. Nothing but this suite starts it.
export class JoinDelayProxy {
  constructor({ listen, target }) {
    this.listen = listen; // "127.0.0.1:port"
    this.target = target; // "127.0.0.1:port"
    this.holds = []; // {topic, seen, release, resolveSeen}
    this.sockets = new Set();
  }

  async start() {
    const [host, port] = this.listen.split(':');
    this.server = net.createServer((client) => this.connection(client));
    await new Promise((resolve, reject) => this.server.once('error', reject).listen(Number(port), host, resolve));
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(() => resolve()));
  }

  // Holds the next join of `topic` ("realtime:doc:wo:1"). Returns {held: Promise (the join arrived and is
  // held; resolves to the time it arrived), release()}.
  holdJoin(topic) {
    const h = { topic, released: false, waiters: [] };
    h.held = new Promise((resolve) => (h.resolveHeld = resolve));
    h.release = () => {
      h.released = true;
      for (const w of h.waiters.splice(0)) w();
    };
    this.holds.push(h);
    return h;
  }

  connection(client) {
    const [host, port] = this.target.split(':');
    const upstream = net.connect(Number(port), host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    // Browser -> rtcache: plain bytes until the HTTP upgrade is through, then WebSocket frames one by one.
    let buf = Buffer.alloc(0);
    let upgraded = null; // null: headers not yet complete; false: not a WebSocket; true: frames follow
    let queue = Promise.resolve(); // frames go out in order, each after any hold before it
    const send = (bytes) => {
      queue = queue.then(() => new Promise((resolve) => (upstream.destroyed ? resolve() : upstream.write(bytes, () => resolve()))));
    };
    client.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (upgraded === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end + 4);
        upgraded = /^upgrade:\s*websocket/im.test(head.toString('latin1'));
        send(head);
        buf = buf.subarray(end + 4);
      }
      if (!upgraded) {
        if (buf.length) send(buf);
        buf = Buffer.alloc(0);
        return;
      }
      for (;;) {
        const frame = nextFrame(buf);
        if (!frame) break;
        buf = buf.subarray(frame.length);
        const bytes = frame.bytes;
        const h = frame.text && this.holdFor(frame.text);
        if (h) {
          h.resolveHeld(Date.now());
          queue = queue.then(() => (h.released ? undefined : new Promise((resolve) => h.waiters.push(resolve))));
        }
        send(bytes);
      }
    });
  }

  holdFor(text) {
    if (!text.includes('"phx_join"')) return null;
    const i = this.holds.findIndex((h) => text.includes(`"${h.topic}"`));
    if (i < 0) return null;
    return this.holds.splice(i, 1)[0];
  }
}

// One complete client frame at the start of `buf` (masked, as browsers send them): its bytes and, for a text
// frame, its text; null while incomplete.
function nextFrame(buf) {
  if (buf.length < 2) return null;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const maskAt = off;
  if (masked) off += 4;
  if (buf.length < off + len) return null;
  const bytes = Buffer.from(buf.subarray(0, off + len));
  let text;
  if (opcode === 1) {
    const payload = Buffer.from(buf.subarray(off, off + len));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= buf[maskAt + (i % 4)];
    text = payload.toString('utf8');
  }
  return { length: off + len, bytes, text };
}

// ---- the factory API, as the server side ----

export class FactoryApi {
  constructor(base) {
    this.base = base;
    this.token = '';
  }

  async init() {
    const t = await this.raw('POST', '/api/_token', { role: 'service_role', sub: 'e2e-server' });
    this.token = t.token;
  }

  async mint(factories) {
    return (await this.raw('POST', '/api/_token', { factories })).token;
  }

  async raw(method, path, body, token) {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }

  call(method, path, body) {
    return this.raw(method, path, body, this.token);
  }

  list(type, factory, page = 1) {
    return this.call('GET', `/api/${type}?factory=${factory}&page=${page}`);
  }

  update(type, id, set) {
    return this.call('PATCH', `/api/${type}/${id}`, set);
  }

  async resetLog() {
    await this.raw('DELETE', '/api/_requests');
  }

  async log() {
    return (await this.raw('GET', '/api/_requests')).entries;
  }
}

// ---- a browser page with its WebSocket frames ----

// One Phoenix message from a frame: vsn 2.0.0 arrays [join_ref, ref, topic, event, payload] or vsn 1.0.0 objects.
export function parseFrame(data) {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  try {
    const m = JSON.parse(text);
    if (Array.isArray(m)) return { topic: m[2], event: m[3], payload: m[4], text };
    if (m && typeof m === 'object') return { topic: m.topic, event: m.event, payload: m.payload, text };
  } catch {
    // binary broadcast or garbage: kept as text only
  }
  return { topic: undefined, event: undefined, payload: undefined, text };
}

export class AppPage {
  constructor(page) {
    this.page = page;
    this.frames = []; // {dir: 'sent'|'received', at, topic, event, payload, text}
    page.on('websocket', (ws) => {
      if (!ws.url().includes('/realtime/')) return;
      ws.on('framesent', (f) => this.frames.push({ dir: 'sent', at: Date.now(), ...parseFrame(f.payload) }));
      ws.on('framereceived', (f) => this.frames.push({ dir: 'received', at: Date.now(), ...parseFrame(f.payload) }));
    });
    this.consoleErrors = [];
    page.on('pageerror', (e) => this.consoleErrors.push(String(e)));
  }

  async open(webUrl, path, as) {
    await this.page.goto(`${webUrl}${path}?as=${encodeURIComponent(as)}`);
    // A marker that only survives while the document is not reloaded.
    await this.page.evaluate(() => {
      window.__e2eMarker = 'no-reload';
    });
  }

  async notReloaded() {
    return (await this.page.evaluate(() => window.__e2eMarker)) === 'no-reload';
  }

  // Waits until the server acknowledged a join of `channel` ("doc:wo:1") with status ok, after `since`.
  async joined(channel, since = 0, timeoutMs = 15000) {
    const topic = `realtime:${channel}`;
    await waitFor(`join of ${channel}`, () => {
      const refs = new Set(
        this.frames.filter((f) => f.dir === 'sent' && f.topic === topic && f.event === 'phx_join' && f.at >= since).map((f) => f.text),
      );
      return (
        refs.size > 0 &&
        this.frames.some(
          (f) => f.dir === 'received' && f.topic === topic && f.event === 'phx_reply' && f.payload?.status === 'ok' && f.at >= since,
        )
      );
    }, timeoutMs);
  }

  // Channels the socket currently subscribes to, from the frames alone: joined (ok reply) and not left or closed since.
  subscribedTopics() {
    const live = new Map();
    for (const f of this.frames) {
      if (f.dir === 'sent' && f.event === 'phx_join') live.set(f.topic, 'joining');
      else if (f.dir === 'received' && f.event === 'phx_reply' && live.get(f.topic) === 'joining') {
        live.set(f.topic, f.payload?.status === 'ok' ? 'joined' : 'refused');
      } else if ((f.dir === 'sent' && f.event === 'phx_leave') || (f.dir === 'received' && f.event === 'phx_close')) {
        live.set(f.topic, 'left');
      }
    }
    return [...live].filter(([, s]) => s === 'joined' || s === 'joining').map(([t]) => t);
  }

  // Broadcast payloads received (the contract events), optionally only after `since`.
  events(since = 0) {
    return this.frames
      .filter((f) => f.dir === 'received' && f.event === 'broadcast' && f.at >= since)
      .map((f) => ({ topic: f.topic, ...(f.payload?.payload ?? {}) }));
  }

  testId(id) {
    return this.page.locator(`[data-testid="${id}"]`);
  }

  async text(id) {
    return (await this.testId(id).first().textContent()) ?? '';
  }

  async live() {
    await waitFor('the live indicator to show connected', async () =>
      (await this.testId('live-indicator').getAttribute('data-connected')) === 'true',
    );
  }

  async stats() {
    return this.page.evaluate(() => window.__rtcache.rt.stats());
  }
}

// ---- PostgreSQL directly (writes that must be faster than an HTTP round trip each) ----

// libpq key=value conninfo ("host=127.0.0.1 port=5432 dbname=rtcache user=rtcache") -> node-postgres config.
export function pgConfig(conninfo) {
  const out = {};
  for (const [, k, v] of conninfo.matchAll(/(\w+)=('(?:[^'\\]|\\.)*'|\S+)/g)) {
    const value = v.startsWith("'") ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
    if (k === 'dbname') out.database = value;
    else if (k === 'port') out.port = Number(value);
    else if (k === 'host' || k === 'user' || k === 'password') out[k] = value;
  }
  return out;
}

export async function withDatabase(conninfo, fn) {
  const client = new pg.Client(pgConfig(conninfo));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
