// Runtime smoke of the installed @rtcache/sdk against this directory's peers, in Node: both entry points
// import, the options of a view carry its key and a query function, and a RealtimeCache over the real
// realtime-js client (whose socket never opens) holds the view's channels and fetches it once at the bound.
// Prints the peer versions it ran with; exits non-zero on the first failed assertion.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RealtimeClient } from '@supabase/realtime-js';
import { createClient } from '@supabase/supabase-js';
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import * as sdk from '@rtcache/sdk';
import * as react from '@rtcache/sdk/react';

const version = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const peers = ['@tanstack/query-core', '@tanstack/react-query', 'react', '@supabase/realtime-js', '@supabase/supabase-js'];
console.log(`smoke: @rtcache/sdk ${version('@rtcache/sdk')} with ${peers.map((p) => `${p}@${version(p)}`).join(' ')}`);

// A WebSocket that never opens: the client queues its joins, so the view's gate runs to its bound.
class NeverOpens {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  readyState = 0;
  binaryType = 'blob';
  constructor(url) {
    this.url = url;
  }
  send() {}
  close() {
    this.readyState = 3;
  }
  addEventListener() {}
  removeEventListener() {}
}

async function until(what, ms = 3000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

assert.equal(typeof react.useRealtimeQuery, 'function');
assert.equal(typeof react.useRealtimeInfiniteQuery, 'function');
assert.equal(typeof react.RealtimeProvider, 'function');

let loads = 0;
const opts = sdk.realtimeQueryOptions({ doc: ['wo', '7'], queryFn: async () => ({ id: '7', version: 1, loads: ++loads }) });
assert.deepEqual(opts.queryKey, ['doc', 'wo', '7']);
assert.deepEqual(opts.queryKey, sdk.keys.doc('wo', '7'));
assert.equal(typeof opts.queryFn, 'function');
assert.deepEqual(opts.meta?.rtcache, { doc: ['wo', '7'] });
const inf = sdk.realtimeInfiniteQueryOptions({ list: ['wo', 'f1'], queryFn: async () => [], initialPageParam: 1, getNextPageParam: () => undefined });
assert.deepEqual(inf.queryKey, ['list', 'wo', 'f1']);

// Without a RealtimeCache the options fetch like any query.
assert.equal((await new QueryClient().fetchQuery(opts)).loads, 1);

// Over the real RealtimeClient.
const queryClient = new QueryClient();
const realtime = new RealtimeClient('ws://127.0.0.1:9/realtime/v1', { params: { apikey: 'anon' }, transport: NeverOpens, timeout: 1000 });
const rt = sdk.createRealtimeCache({ queryClient, realtime, factoryId: 'f1', firstFetchWait: 100, focusManager: null, onlineManager: null });
const observer = new QueryObserver(queryClient, opts);
const stop = observer.subscribe(() => {});
assert.deepEqual(rt.topics().sort(), ['doc:wo:7', 'factory:f1']);
assert.deepEqual(realtime.getChannels().map((c) => c.topic).sort(), ['realtime:doc:wo:7', 'realtime:factory:f1']);
await until(() => observer.getCurrentResult().data !== undefined);
assert.equal(observer.getCurrentResult().data.loads, 2, 'one fetch, at the gate bound');
assert.equal(rt.status().connected, false);
stop();
await rt.dispose();
assert.deepEqual(rt.topics(), []);

// A SupabaseClient is taken as it comes (its .realtime is used).
const supabase = createClient('http://127.0.0.1:9', 'anon', { auth: { persistSession: false }, realtime: { transport: NeverOpens } });
const rt2 = sdk.createRealtimeCache({ queryClient: new QueryClient(), realtime: supabase, factoryId: 'f1', focusManager: null, onlineManager: null });
const leave = rt2.watchList('wo');
assert.deepEqual(supabase.realtime.getChannels().map((c) => c.topic).sort(), ['realtime:factory:f1', 'realtime:list:wo:f1']);
leave();
await rt2.dispose();

realtime.disconnect();
supabase.realtime.disconnect();
console.log('smoke: ok');
process.exit(0);
