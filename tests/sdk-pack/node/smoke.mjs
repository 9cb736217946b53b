// @rtcache/sdk in plain Node with no React installed: '.' imports and works (a view over an in-memory
// realtime client: channels joined, one fetch after the joins, a patch from an event); './react' fails only
// for want of @tanstack/react-query; the exports map hides everything else.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import * as sdk from '@rtcache/sdk';
import pkg from '@rtcache/sdk/package.json' with { type: 'json' };

for (const absent of ['react', 'react-dom', '@tanstack/react-query', '@supabase/realtime-js', '@supabase/supabase-js']) {
  assert.ok(!existsSync(new URL(`./node_modules/${absent}`, import.meta.url)), `${absent} was installed: an optional peer must not be`);
}
assert.equal(pkg.name, '@rtcache/sdk');

// A realtime client in memory: a channel joins when subscribed; broadcast() delivers to a topic.
class Channel {
  state = 'closed';
  listeners = [];
  joinOk = [];
  constructor(topic) {
    this.topic = `realtime:${topic}`;
    this.joinPush = { receive: (status, cb) => (status === 'ok' && this.joinOk.push(cb), this.joinPush) };
  }
  on(type, filter, cb) {
    if (type === 'broadcast') this.listeners.push(cb);
    return this;
  }
  updateJoinPayload() {}
  subscribe(cb) {
    this.state = 'joining';
    setTimeout(() => {
      this.state = 'joined';
      for (const f of this.joinOk) f({});
      cb?.('SUBSCRIBED');
    }, 5);
    return this;
  }
  async unsubscribe() {
    this.state = 'closed';
    return 'ok';
  }
}
class Realtime {
  channels = [];
  channel(topic) {
    const c = new Channel(topic);
    this.channels.push(c);
    return c;
  }
  async removeChannel(c) {
    this.channels = this.channels.filter((x) => x !== c);
    return 'ok';
  }
  async setAuth() {}
  isConnected() {
    return true;
  }
  getChannels() {
    return this.channels;
  }
  broadcast(topic, payload) {
    for (const c of this.channels) if (c.topic === `realtime:${topic}`) for (const f of c.listeners) f({ event: 'invalidate', payload });
  }
}

async function until(what, ms = 3000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const realtime = new Realtime();
const queryClient = new QueryClient();
const rt = sdk.createRealtimeCache({ queryClient, realtime, factoryId: 'f1', windowMs: 250, focusManager: null, onlineManager: null });
let loads = 0;
const observer = new QueryObserver(
  queryClient,
  sdk.realtimeQueryOptions({ doc: ['wo', '7'], queryFn: async () => ({ id: '7', status: 'open', version: 1, loads: ++loads }) }),
);
const stop = observer.subscribe(() => {});
await until(() => observer.getCurrentResult().data !== undefined);
assert.deepEqual(rt.topics().sort(), ['doc:wo:7', 'factory:f1']);
assert.equal(loads, 1, 'one fetch per view open');
realtime.broadcast('doc:wo:7', { type: 'wo', id: '7', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
await until(() => observer.getCurrentResult().data?.status === 'approved');
assert.equal(loads, 1, 'patched, not refetched');
stop();
await rt.dispose();

await assert.rejects(import('@rtcache/sdk/react'), (e) => e.code === 'ERR_MODULE_NOT_FOUND' && /@tanstack\/react-query/.test(e.message));
await assert.rejects(import('@rtcache/sdk/dist/index.js'), (e) => e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED');
console.log(`smoke: @rtcache/sdk ${pkg.version} in Node ${process.versions.node} without React: ok`);
