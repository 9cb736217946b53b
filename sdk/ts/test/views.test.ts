// Issue 12: no invalidation lost in any window, and one call per realtime query. Each finding of the issue
// is pinned here with the fake realtime client, a manual clock and a real QueryClient:
//   1. an operation arriving while a query's first fetch is in flight runs after that fetch, exactly once
//   2. a view's first fetch waits (bounded) for its own channels' joins; past the bound it is fetched again
//   3. leaving a view flushes its pending events
//   4. duplicate work: repeated offsets, recoveries spread over a reconnect, recovery + event in one tick,
//      resync of an infinite list
//   5. realtimeQueryOptions: one options object carries the key, the gate and the subscription lifetime
import { InfiniteQueryObserver, QueryClient, QueryObserver, type QueryKey } from '@tanstack/query-core';
import { afterEach, describe, expect, test } from 'vitest';
import {
  createRealtimeCache,
  keys,
  realtimeInfiniteQueryOptions,
  realtimeQueryOptions,
  type RealtimeCache,
  type RealtimeCacheOptions,
} from '../src/index.js';
import { FakeRealtime, ManualClock } from './fakes.js';

/** Lets promise reactions and query-core's notifications (setTimeout 0) run. */
const settle = async () => {
  for (let i = 0; i < 4; i++) await new Promise<void>((r) => setTimeout(r, 0));
};

/** A backend whose reads the test answers: each read snapshots the state when it starts, as a server does. */
class Backend {
  state = new Map<string, unknown>();
  reads: string[] = []; // every read, in order
  inFlight: Array<() => void> = [];
  count(key: string) {
    return this.reads.filter((k) => k === key).length;
  }
  read<T>(key: string): Promise<T> {
    this.reads.push(key);
    const body = structuredClone(this.state.get(key));
    return new Promise<T>((resolve) => this.inFlight.push(() => resolve(body as T)));
  }
  /** Answers every read in flight. */
  async respondAll() {
    await settle(); // reads released a moment ago (a gate opening) start first
    for (const r of this.inFlight.splice(0)) r();
    await settle();
  }
}

interface Setup {
  qc: QueryClient;
  rt: FakeRealtime;
  clock: ManualClock;
  cache: RealtimeCache;
  be: Backend;
  unsubs: Array<() => void>;
}
const live: Setup[] = [];
function setup(opts: Partial<RealtimeCacheOptions> = {}): Setup {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity, gcTime: Infinity } } });
  const rt = new FakeRealtime();
  const clock = new ManualClock();
  const cache = createRealtimeCache({ queryClient: qc, realtime: rt, factoryId: 'f1', clock, focusManager: null, onlineManager: null, ...opts });
  const s = { qc, rt, clock, cache, be: new Backend(), unsubs: [] };
  live.push(s);
  return s;
}
afterEach(async () => {
  for (const s of live.splice(0)) {
    for (const u of s.unsubs) u();
    await s.be.respondAll();
    await s.cache.dispose();
    s.qc.clear();
  }
});

const upd = (o: Record<string, unknown>) => ({ type: 'wo', id: '1', factoryId: 'f1', action: 'update', ...o });

function observeDoc(s: Setup, id = '1', extra: Record<string, unknown> = {}) {
  const obs = new QueryObserver(s.qc, realtimeQueryOptions({ doc: ['wo', id], queryFn: () => s.be.read<Record<string, unknown>>(`doc:wo:${id}`), ...extra }));
  s.unsubs.push(obs.subscribe(() => {}));
  return obs;
}

function observeInfinite(s: Setup) {
  const obs = new InfiniteQueryObserver(
    s.qc,
    realtimeInfiniteQueryOptions({
      list: ['wo', 'f1'],
      queryFn: ({ pageParam }) => s.be.read<string[]>(`list:wo:f1:${pageParam}`),
      initialPageParam: 1,
      getNextPageParam: (_last: string[], all: string[][]) => all.length + 1,
    }),
  );
  const unsub = obs.subscribe(() => {});
  s.unsubs.push(unsub);
  return { obs, unsub };
}

describe('finding 1: an operation during a first fetch runs once that fetch settles', () => {
  test('issue 12, finding 1: a create on list:wo:f1 during page 1\'s first fetch refetches page 1 after it', async () => {
    const s = setup();
    s.cache.watchList('wo');
    s.rt.joinAll();
    s.be.state.set('list:wo:f1:1', ['a']);
    const obs = new QueryObserver(s.qc, { queryKey: keys.list('wo', 'f1', 1), queryFn: () => s.be.read<string[]>('list:wo:f1:1') });
    s.unsubs.push(obs.subscribe(() => {}));
    await settle();
    expect(s.be.count('list:wo:f1:1')).toBe(1); // the first fetch read ['a'] and is still in flight
    s.be.state.set('list:wo:f1:1', ['new', 'a']);
    s.rt.get('list:wo:f1').emit({ type: 'wo', id: 'new', factoryId: 'f1', action: 'create', version: 1 });
    s.clock.advance(s.cache.windowMs);
    await settle();
    expect(s.be.count('list:wo:f1:1')).toBe(1); // not merged into the fetch in flight, not a parallel one
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual(['new', 'a']);
    expect(s.be.count('list:wo:f1:1')).toBe(2);
  });

  test('issue 12, finding 1: a recovery refetch during a doc\'s first fetch runs after it, once', async () => {
    const s = setup();
    s.cache.watchDoc('wo', '1');
    s.rt.joinAll('e1', 3);
    s.be.state.set('doc:wo:1', { status: 'open', version: 1 });
    const obs = new QueryObserver(s.qc, { queryKey: keys.doc('wo', '1'), queryFn: () => s.be.read('doc:wo:1') });
    s.unsubs.push(obs.subscribe(() => {}));
    await settle();
    s.be.state.set('doc:wo:1', { status: 'done', version: 2 }); // committed while the socket was down
    for (const ch of s.rt.channels) {
      ch.drop();
      ch.rejoin();
      ch.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    }
    s.clock.advance(s.cache.windowMs);
    await settle();
    expect(s.cache.stats().recoveries).toBe(1);
    expect(s.be.count('doc:wo:1')).toBe(1);
    await s.be.respondAll();
    await s.be.respondAll();
    expect(s.be.count('doc:wo:1')).toBe(2);
    expect(obs.getCurrentResult().data).toEqual({ status: 'done', version: 2 });
  });

  test('an infinite list created during its first page\'s fetch is refetched after it (head found before it has data)', async () => {
    const s = setup();
    s.be.state.set('list:wo:f1:1', ['a']);
    const { obs } = observeInfinite(s);
    s.rt.joinAll();
    await settle();
    expect(s.be.count('list:wo:f1:1')).toBe(1);
    s.be.state.set('list:wo:f1:1', ['new', 'a']);
    s.rt.get('list:wo:f1').emit({ type: 'wo', id: 'new', factoryId: 'f1', action: 'create', version: 1 });
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
    expect(obs.getCurrentResult().data?.pages).toEqual([['new', 'a']]);
  });

  test('several operations on one fetching query (event, recovery, resync) refetch it once after the fetch', async () => {
    const s = setup({ maxPending: 1 });
    s.be.state.set('doc:wo:1', { status: 'open', version: 1 });
    observeDoc(s);
    s.rt.joinAll('e1', 0);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1);
    // Two distinct keys with maxPending 1: the window degrades to a resync; and a rejoin that lost events.
    s.rt.get('doc:wo:1').emit(upd({ version: 2 }));
    s.rt.get('doc:wo:1').emit(upd({ action: 'approve', version: 3 }));
    const ch = s.rt.get('doc:wo:1');
    ch.drop();
    ch.rejoin();
    ch.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.clock.advance(s.cache.windowMs);
    await settle();
    expect(s.cache.stats()).toMatchObject({ resyncs: 1, recoveries: 1 });
    await s.be.respondAll();
    await s.be.respondAll();
    expect(s.be.count('doc:wo:1')).toBe(2);
  });
});

describe('finding 2: per-view join gate', () => {
  test('issue 12, finding 2: a view\'s first fetch waits for its own channels\' joins, then fetches once', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { status: 'open', version: 1 });
    const obs = observeDoc(s);
    await settle();
    expect(s.cache.topics().sort()).toEqual(['doc:wo:1', 'factory:f1']);
    expect(s.be.count('doc:wo:1')).toBe(0); // channels joining: no fetch yet
    s.be.state.set('doc:wo:1', { status: 'done', version: 2 }); // committed before the channel is live
    s.rt.get('doc:wo:1').reply('ok', { rtcache: { epoch: 'e', offset: 0, recovered: false } });
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(0); // factory:f1 still joining
    s.rt.get('factory:f1').reply('ok', { rtcache: { epoch: 'e', offset: 0, recovered: false } });
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1);
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual({ status: 'done', version: 2 });
    s.clock.advance(10_000);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1); // one fetch per view open
    expect(s.cache.stats().catchUps).toBe(0);
  });

  test('the gate waits for the view\'s own channels only: another view\'s refused channel stalls nothing', async () => {
    const s = setup();
    s.cache.watchList('grn');
    s.rt.get('list:grn:f1').reply('error', { reason: 'Unauthorized' });
    s.be.state.set('doc:wo:1', { version: 1 });
    observeDoc(s);
    s.rt.get('doc:wo:1').reply('ok', { rtcache: { epoch: 'e', offset: 0, recovered: false } });
    s.rt.get('factory:f1').reply('ok', { rtcache: { epoch: 'e', offset: 0, recovered: false } });
    await settle();
    expect(s.cache.status().connected).toBe(false); // the global status is not what gates
    expect(s.be.count('doc:wo:1')).toBe(1);
  });

  test('past the bound (500 ms) the view is fetched, and fetched once more when its channels are live', async () => {
    const s = setup();
    expect(s.cache.firstFetchWait).toBe(500);
    s.be.state.set('doc:wo:1', { version: 1 });
    const obs = observeDoc(s);
    s.clock.advance(499);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(0);
    s.clock.advance(1);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1); // realtime is slow: show the data now
    await s.be.respondAll();
    s.be.state.set('doc:wo:1', { version: 2 }); // committed before the channels are live: no event will come
    s.rt.joinAll();
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(2);
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual({ version: 2 });
    expect(s.cache.stats().catchUps).toBe(1);
  });

  test('a view whose channels are already live (held by another view) fetches at once', async () => {
    const s = setup();
    s.cache.watchDoc('wo', '1');
    s.rt.joinAll();
    observeDoc(s);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1);
  });

  test('opt-out per view: gate:false fetches at once and is not fetched again; firstFetchWait:0 fetches at once and again at the joins', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { version: 1 });
    s.be.state.set('doc:wo:2', { version: 1 });
    observeDoc(s, '1', { gate: false });
    observeDoc(s, '2', { firstFetchWait: 0 });
    await settle();
    expect([s.be.count('doc:wo:1'), s.be.count('doc:wo:2')]).toEqual([1, 1]);
    await s.be.respondAll();
    s.rt.joinAll();
    await settle();
    expect([s.be.count('doc:wo:1'), s.be.count('doc:wo:2')]).toEqual([1, 2]);
  });

  test('a view opened over cached data (from a prefetch, or a list page) is fetched once when its channels are live', async () => {
    const s = setup();
    s.qc.setQueryData(keys.doc('wo', '1'), { version: 1 });
    s.be.state.set('doc:wo:1', { version: 2 });
    const obs = observeDoc(s);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(0); // fresh data (staleTime Infinity): shown, not fetched
    s.rt.joinAll();
    await settle();
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual({ version: 2 });
    expect(s.cache.stats().catchUps).toBe(1);
  });

  test('the two-call API: a fetch made before the watch\'s channels are live is made once more when they are', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { version: 1 });
    const obs = new QueryObserver(s.qc, { queryKey: keys.doc('wo', '1'), queryFn: () => s.be.read('doc:wo:1') });
    s.unsubs.push(obs.subscribe(() => {}));
    s.cache.watchDoc('wo', '1');
    await s.be.respondAll();
    s.be.state.set('doc:wo:1', { version: 2 }); // between the app's fetch and the join
    s.rt.joinAll();
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual({ version: 2 });
    expect(s.be.count('doc:wo:1')).toBe(2);
  });

  test('an event for a view whose first fetch is held at the gate costs no second fetch (the held fetch reads after it)', async () => {
    const s = setup();
    s.cache.watchList('grn'); // factory:f1 is live through another view
    s.rt.joinAll();
    s.be.state.set('list:wo:f1:1', ['a']);
    observeInfinite(s);
    await settle();
    expect(s.be.count('list:wo:f1:1')).toBe(0);
    s.rt.get('factory:f1').emit({ type: 'wo', id: '*', factoryId: 'f1', action: 'create', count: 3 });
    s.clock.advance(s.cache.windowMs);
    s.rt.joinAll();
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(1);
  });

  test('a view closed while its fetch waits at the gate fetches nothing, leaves, and fetches when shown again', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { version: 1 });
    const opts = realtimeQueryOptions({ doc: ['wo', '1'], queryFn: () => s.be.read('doc:wo:1') });
    const unsub = new QueryObserver(s.qc, opts).subscribe(() => {});
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(0);
    unsub();
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(0);
    expect(s.rt.channels).toEqual([]);
    expect(s.qc.getQueryState(keys.doc('wo', '1'))).toMatchObject({ status: 'pending', fetchStatus: 'idle' });
    const obs = new QueryObserver(s.qc, opts);
    s.unsubs.push(obs.subscribe(() => {}));
    s.rt.joinAll();
    await s.be.respondAll();
    expect(obs.getCurrentResult().data).toEqual({ version: 1 });
    expect(s.be.count('doc:wo:1')).toBe(1);
  });
});

describe('finding 3: leaving a view flushes its pending events', () => {
  test('issue 12, finding 3: disposing a watch applies its pending events now, not a window later', () => {
    const s = setup();
    const stop = s.cache.watchDoc('wo', '1');
    s.rt.joinAll();
    s.qc.setQueryData(keys.doc('wo', '1'), { status: 'open', version: 1 });
    s.rt.get('doc:wo:1').emit(upd({ version: 2, changedKeys: ['status'], patch: { status: 'done' } }));
    stop();
    expect(s.qc.getQueryData(keys.doc('wo', '1'))).toEqual({ status: 'done', version: 2 });
  });

  test('unmounting a realtime view (its last observer) flushes that view\'s events only', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { status: 'open', version: 1 });
    s.be.state.set('doc:wo:2', { status: 'open', version: 1 });
    const a = new QueryObserver(s.qc, realtimeQueryOptions({ doc: ['wo', '1'], queryFn: () => s.be.read('doc:wo:1') }));
    const stopA = a.subscribe(() => {});
    observeDoc(s, '2');
    s.rt.joinAll();
    await s.be.respondAll();
    s.rt.get('doc:wo:1').emit(upd({ version: 2, changedKeys: ['status'], patch: { status: 'done' } }));
    s.rt.get('doc:wo:2').emit(upd({ id: '2', version: 2, changedKeys: ['status'], patch: { status: 'done' } }));
    stopA();
    await null; // the view closes a microtask later (a view mounted again at once is kept)
    expect(s.qc.getQueryData(keys.doc('wo', '1'))).toEqual({ status: 'done', version: 2 });
    expect(s.qc.getQueryData(keys.doc('wo', '2'))).toEqual({ status: 'open', version: 1 }); // its window runs on
    s.clock.advance(s.cache.windowMs);
    expect(s.qc.getQueryData(keys.doc('wo', '2'))).toEqual({ status: 'done', version: 2 });
    expect(s.cache.stats()).toMatchObject({ patched: 2, batches: 2 });
  });
});

describe('finding 4: duplicate work', () => {
  test('issue 12, finding 4: an event re-delivered with an offset already applied is dropped (the patch stays a patch)', () => {
    const s = setup();
    s.cache.watchDoc('wo', '1');
    s.rt.joinAll('e1', 4);
    s.qc.setQueryData(keys.doc('wo', '1'), { status: 'open', version: 1 });
    const ch = s.rt.get('doc:wo:1');
    const e = upd({ version: 2, changedKeys: ['status'], patch: { status: 'done' }, offset: 9 }); // offsets need not be contiguous
    ch.emit(e);
    ch.emit(e);
    ch.emit(upd({ version: 1, offset: 4 })); // at or below the join position: replayed before
    s.clock.advance(s.cache.windowMs);
    expect(s.cache.stats()).toMatchObject({ received: 1, patched: 1, invalidated: 0, dropped: { duplicate: 2 } });
    expect(s.qc.getQueryData(keys.doc('wo', '1'))).toEqual({ status: 'done', version: 2 });
  });

  test('a rejoin not recovered starts a new stream: its offsets count from the new position', () => {
    const s = setup();
    s.cache.watchDoc('wo', '1');
    s.rt.joinAll('e1', 50);
    s.qc.setQueryData(keys.doc('wo', '1'), { status: 'open', version: 1 });
    const ch = s.rt.get('doc:wo:1');
    ch.drop();
    ch.rejoin();
    ch.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    ch.emit(upd({ version: 2, offset: 1 }));
    expect(s.cache.stats()).toMatchObject({ received: 1, dropped: { duplicate: 0 } });
  });

  test('issue 12, finding 4: rejoins answered over two windows refetch the list head once, after the last', async () => {
    const s = setup();
    s.be.state.set('list:wo:f1:1', ['a']);
    const obs = new QueryObserver(s.qc, realtimeQueryOptions({ list: ['wo', 'f1'], queryFn: () => s.be.read<string[]>('list:wo:f1:1') }));
    s.unsubs.push(obs.subscribe(() => {}));
    s.rt.joinAll('e1', 3);
    await s.be.respondAll();
    for (const ch of s.rt.channels) {
      ch.drop();
      ch.rejoin();
    }
    s.rt.get('list:wo:f1').reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.clock.advance(s.cache.windowMs + 100);
    await settle();
    expect(s.be.count('list:wo:f1:1')).toBe(1); // factory:f1 has not answered: its losses are not known yet
    s.rt.get('factory:f1').reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
    s.clock.advance(10_000);
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
  });

  test('issue 12, finding 4: a recovery and a create landing in one timer tick fetch the list head once', async () => {
    const s = setup();
    s.be.state.set('list:wo:f1:1', ['a']);
    const obs = new QueryObserver(s.qc, realtimeQueryOptions({ list: ['wo', 'f1'], queryFn: () => s.be.read<string[]>('list:wo:f1:1') }));
    s.unsubs.push(obs.subscribe(() => {}));
    s.rt.joinAll('e1', 3);
    await s.be.respondAll();
    const list = s.rt.get('list:wo:f1');
    list.drop();
    list.rejoin();
    list.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.rt.get('factory:f1').emit({ type: 'wo', id: '*', factoryId: 'f1', action: 'create', count: 1 });
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    expect(s.cache.stats()).toMatchObject({ recoveries: 1, listRefetches: 1 });
    expect(s.be.count('list:wo:f1:1')).toBe(2);
  });

  test('issue 12, finding 4: a resync refetches an infinite list\'s first page only, and no page past a head', async () => {
    const s = setup({ maxPending: 1 });
    s.be.state.set('list:wo:f1:1', ['a']);
    s.be.state.set('list:wo:f1:2', ['b']);
    s.be.state.set('list:pl:f1:2', ['p']);
    const { obs } = observeInfinite(s);
    const page2 = new QueryObserver(s.qc, { queryKey: keys.list('pl', 'f1', 2), queryFn: () => s.be.read('list:pl:f1:2') });
    s.unsubs.push(page2.subscribe(() => {}));
    s.rt.joinAll();
    await s.be.respondAll();
    void obs.fetchNextPage();
    await s.be.respondAll();
    expect(obs.getCurrentResult().data?.pages).toEqual([['a'], ['b']]);
    for (const id of ['1', '2']) s.rt.get('list:wo:f1').emit(upd({ id, version: 2 }));
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    expect(s.cache.stats().resyncs).toBe(1);
    expect([s.be.count('list:wo:f1:1'), s.be.count('list:wo:f1:2'), s.be.count('list:pl:f1:2')]).toEqual([2, 1, 1]);
    expect(obs.getCurrentResult().data?.pages).toEqual([['a']]);
  });
  test('issue 12, finding 4 (two-call API): rejoins answered over two windows refetch the list head once, after the last', async () => {
    const s = setup();
    s.cache.watchList('wo');
    s.rt.joinAll('e1', 3);
    s.be.state.set('list:wo:f1:1', ['a']);
    const obs = new QueryObserver(s.qc, { queryKey: keys.list('wo', 'f1', 1), queryFn: () => s.be.read<string[]>('list:wo:f1:1') });
    s.unsubs.push(obs.subscribe(() => {}));
    await s.be.respondAll();
    for (const ch of s.rt.channels) {
      ch.drop();
      ch.rejoin();
    }
    s.rt.get('list:wo:f1').reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.clock.advance(s.cache.windowMs + 100);
    await s.be.respondAll();
    s.rt.get('factory:f1').reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    s.clock.advance(10_000);
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
  });

  test('issue 12, finding 4 (two-call API): a recovery and a create landing in one timer tick fetch the list head once', async () => {
    const s = setup();
    s.cache.watchList('wo');
    s.rt.joinAll('e1', 3);
    s.be.state.set('list:wo:f1:1', ['a']);
    const obs = new QueryObserver(s.qc, { queryKey: keys.list('wo', 'f1', 1), queryFn: () => s.be.read<string[]>('list:wo:f1:1') });
    s.unsubs.push(obs.subscribe(() => {}));
    await s.be.respondAll();
    const list = s.rt.get('list:wo:f1');
    list.drop();
    list.rejoin();
    list.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    s.rt.get('factory:f1').emit({ type: 'wo', id: '*', factoryId: 'f1', action: 'create', count: 1 });
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    await s.be.respondAll();
    expect(s.be.count('list:wo:f1:1')).toBe(2);
  });

  test('issue 12, finding 4 (two-call API): a resync refetches an infinite list\'s first page only', async () => {
    const s = setup({ maxPending: 1 });
    s.cache.watchList('wo');
    s.rt.joinAll();
    s.be.state.set('list:wo:f1:1', ['a']);
    s.be.state.set('list:wo:f1:2', ['b']);
    const obs = new InfiniteQueryObserver(s.qc, {
      queryKey: keys.lists('wo', 'f1'),
      queryFn: ({ pageParam }) => s.be.read<string[]>(`list:wo:f1:${pageParam}`),
      initialPageParam: 1,
      getNextPageParam: (_l: string[], all: string[][]) => all.length + 1,
    });
    s.unsubs.push(obs.subscribe(() => {}));
    await s.be.respondAll();
    void obs.fetchNextPage();
    await s.be.respondAll();
    for (const id of ['1', '2']) s.rt.get('list:wo:f1').emit(upd({ id, version: 2 }));
    s.clock.advance(s.cache.windowMs);
    await s.be.respondAll();
    await s.be.respondAll();
    expect([s.be.count('list:wo:f1:1'), s.be.count('list:wo:f1:2')]).toEqual([2, 1]);
    expect(obs.getCurrentResult().data?.pages).toEqual([['a']]);
  });
});

describe('finding 5: realtimeQueryOptions, one call per view', () => {
  test('issue 12, finding 5: the options carry the SDK\'s key and watch the view\'s channels exactly while observed', async () => {
    const s = setup();
    const doc = realtimeQueryOptions({ doc: ['wo', '7'], queryFn: async () => ({ version: 1 }), staleTime: 5 });
    expect(doc.queryKey).toEqual(keys.doc('wo', '7'));
    expect(doc.staleTime).toBe(5);
    const page = realtimeQueryOptions({ list: ['wo', 'f1'], page: 2, queryFn: async () => [] });
    expect(page.queryKey).toEqual(keys.list('wo', 'f1', 2));
    const infinite = realtimeInfiniteQueryOptions({ list: ['wo', 'f1'], queryFn: async () => [], initialPageParam: 1, getNextPageParam: () => 2 });
    expect(infinite.queryKey).toEqual(keys.lists('wo', 'f1'));

    const a = new QueryObserver(s.qc, doc);
    const b = new QueryObserver(s.qc, doc);
    const stopA = a.subscribe(() => {});
    const stopB = b.subscribe(() => {});
    expect(s.cache.topics().sort()).toEqual(['doc:wo:7', 'factory:f1']);
    stopA();
    await settle();
    expect(s.cache.topics().sort()).toEqual(['doc:wo:7', 'factory:f1']); // still observed by b
    stopB();
    await settle();
    expect(s.cache.topics()).toEqual([]);
  });

  test('a malformed type or id is a programming error, named at once', () => {
    expect(() => realtimeQueryOptions({ doc: ['wo', 'a:b'], queryFn: async () => 1 })).toThrow(TypeError);
    expect(() => realtimeQueryOptions({ list: ['WO', 'f1'], queryFn: async () => 1 })).toThrow(TypeError);
  });

  test('an unregistered type is reported through onError and watches nothing', async () => {
    const errors: string[] = [];
    const s = setup({ onError: (e) => errors.push(e.code) });
    const obs = new QueryObserver(s.qc, realtimeQueryOptions({ doc: ['user', '1'], queryFn: async () => 1 }));
    s.unsubs.push(obs.subscribe(() => {}));
    await settle();
    expect(errors).toEqual(['unknown_doc_type']);
    expect(s.cache.topics()).toEqual([]);
    expect(obs.getCurrentResult().data).toBe(1); // no view, no gate: fetched at once
  });

  test('without a RealtimeCache on the QueryClient the options still fetch (no gate, no channels)', async () => {
    const qc = new QueryClient();
    const data = await qc.fetchQuery(realtimeQueryOptions({ doc: ['wo', '1'], queryFn: async () => ({ v: 1 }) }));
    expect(data).toEqual({ v: 1 });
  });

  test('a prefetch (no observer) is not gated; the view opened on it later is caught up at the joins', async () => {
    const s = setup();
    s.be.state.set('doc:wo:1', { version: 1 });
    const opts = realtimeQueryOptions({ doc: ['wo', '1'], queryFn: () => s.be.read('doc:wo:1') });
    const p = s.qc.prefetchQuery(opts);
    await settle();
    expect(s.be.count('doc:wo:1')).toBe(1);
    await s.be.respondAll();
    await p;
    const obs = new QueryObserver(s.qc, opts);
    s.unsubs.push(obs.subscribe(() => {}));
    s.rt.joinAll();
    await s.be.respondAll();
    expect(s.be.count('doc:wo:1')).toBe(2);
  });

  test('two caches on one QueryClient: the first serves realtime views', async () => {
    const s = setup();
    const other = createRealtimeCache({ queryClient: s.qc, realtime: new FakeRealtime(), factoryId: 'f2', clock: s.clock, focusManager: null, onlineManager: null });
    try {
      const obs = new QueryObserver(s.qc, realtimeQueryOptions({ doc: ['wo', '1'], queryFn: async () => 1 }));
      s.unsubs.push(obs.subscribe(() => {}));
      expect(s.cache.topics().sort()).toEqual(['doc:wo:1', 'factory:f1']);
      expect(other.topics()).toEqual([]);
    } finally {
      await other.dispose();
    }
  });

  const keyOf = (o: { queryKey: QueryKey }) => JSON.stringify(o.queryKey);
  test('the key of every option builder is keys.ts\'s, so an event and a view cannot disagree', () => {
    expect(keyOf(realtimeQueryOptions({ doc: ['grn', 'x'], queryFn: async () => 1 }))).toBe(JSON.stringify(keys.doc('grn', 'x')));
    expect(keyOf(realtimeQueryOptions({ list: ['grn', 'f9'], queryFn: async () => 1 }))).toBe(JSON.stringify(keys.listHeads('grn', 'f9')));
  });
});
