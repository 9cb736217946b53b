// The playbook's unit cases (the team's realtime cache invalidation playbook, "Testing Guidance"), done as
// docs/design.md §6 means them, plus the playbook sample's known bugs pinned as regressions: unscoped bindings,
// a patch that reads values the payload never carries, a listener never removed. A fake realtime client and
// a manual clock drive everything; the QueryClient is the real one.
import { focusManager, onlineManager, QueryClient, QueryObserver } from '@tanstack/query-core';
import { afterEach, describe, expect, test } from 'vitest';
import { createRealtimeCache, keys, type RealtimeCache, type RealtimeCacheOptions } from '../src/index.js';
import { FakeManager, FakeRealtime, ManualClock, microtasks } from './fakes.js';

interface Setup {
  qc: QueryClient;
  rt: FakeRealtime;
  clock: ManualClock;
  focus: FakeManager;
  online: FakeManager;
  cache: RealtimeCache;
}
const live: Setup[] = [];
function setup(opts: Partial<RealtimeCacheOptions> = {}): Setup {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  const rt = new FakeRealtime();
  const clock = new ManualClock();
  const focus = new FakeManager();
  const online = new FakeManager();
  const cache = createRealtimeCache({ queryClient: qc, realtime: rt, factoryId: 'f1', clock, focusManager: focus, onlineManager: online, ...opts });
  const s = { qc, rt, clock, focus, online, cache };
  live.push(s);
  return s;
}
afterEach(async () => {
  for (const s of live.splice(0)) await s.cache.dispose();
});

const invalidated = (qc: QueryClient, key: readonly unknown[]) => qc.getQueryState(key)?.isInvalidated ?? false;
const ev = (o: Record<string, unknown>) => ({ type: 'wo', id: '123', factoryId: 'f1', action: 'update', ...o });

describe('keys: one source of truth', () => {
  test('doc, list (page 1 by default), list heads and the list prefix', () => {
    expect(keys.doc('wo', '123')).toEqual(['doc', 'wo', '123']);
    expect(keys.list('wo', 'f1')).toEqual(['list', 'wo', 'f1', { page: 1 }]);
    expect(keys.list('wo', 'f1', 3)).toEqual(['list', 'wo', 'f1', { page: 3 }]);
    expect(keys.listHeads('wo', 'f1')).toEqual(keys.list('wo', 'f1', 1));
    expect(keys.lists('wo', 'f1')).toEqual(['list', 'wo', 'f1']);
    expect(() => keys.list('wo', 'f1', 0)).toThrow(RangeError);
  });
});

describe('subscriptions: scoped and disposable', () => {
  test('a detail view joins exactly doc:<type>:<id> and factory:<id>, listening to invalidate broadcasts only', () => {
    const { rt, cache } = setup();
    cache.watchDoc('wo', '123');
    expect(rt.topics()).toEqual(['doc:wo:123', 'factory:f1']);
    // Regression (playbook sample): no unscoped postgres_changes binding on any channel.
    for (const ch of rt.channels) {
      expect(ch.bindings.map((b) => [b.type, b.filter?.event])).toEqual([
        ['broadcast', 'invalidate'],
        ['system', undefined],
      ]);
    }
  });

  test('a list view joins list:<type>:<factoryId> and factory:<id>; two views share the factory channel', () => {
    const { rt, cache } = setup();
    cache.watchList('grn');
    cache.watchDoc('wo', '1');
    expect(rt.topics()).toEqual(['doc:wo:1', 'factory:f1', 'list:grn:f1']);
    expect(rt.created.length).toBe(3);
  });

  test('leaving a view removes its channels; events on them are no longer handled', async () => {
    const { rt, cache, qc, clock } = setup();
    const stop = cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    const ch = rt.get('doc:wo:123');
    stop();
    stop(); // idempotent
    await microtasks();
    expect(rt.channels).toEqual([]);
    ch.emit(ev({ version: 2 }));
    clock.advance(1000);
    expect(cache.stats().received).toBe(0);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
  });

  test('an unmount followed at once by a mount of the same view keeps the channel (no leave and rejoin)', async () => {
    const { rt, cache } = setup();
    const stop = cache.watchDoc('wo', '123');
    stop();
    cache.watchDoc('wo', '123');
    await microtasks();
    expect(rt.created.length).toBe(2);
    expect(rt.topics()).toEqual(['doc:wo:123', 'factory:f1']);
  });

  test('a watch of an unregistered type or a malformed id is refused with the grammar reason', () => {
    const { cache, rt } = setup();
    expect(() => cache.watchDoc('user', '1')).toThrow(/unknown|not configured/);
    expect(() => cache.watchDoc('wo', 'a:b')).toThrow(/segments|character/);
    expect(rt.channels).toEqual([]);
  });

  test('setFactory resubscribes every watch to the new scope and drops pending events', async () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    cache.watchList('wo');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2 }));
    cache.setFactory('f2');
    await microtasks();
    expect(rt.topics()).toEqual(['doc:wo:123', 'factory:f2', 'list:wo:f2']);
    clock.advance(1000);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
    expect(cache.stats().dropped.scope).toBe(1);
    // The doc channel was kept (it does not depend on the scope).
    expect(rt.created.filter((c) => c.topic === 'realtime:doc:wo:123').length).toBe(1);
  });

  test('dispose removes every channel and the focus and online listeners (regression: listener never removed)', async () => {
    const { rt, cache, focus, online } = setup();
    cache.watchDoc('wo', '123');
    cache.watchList('wo');
    expect([focus.listeners.size, online.listeners.size]).toEqual([1, 1]);
    await cache.dispose();
    expect(rt.channels).toEqual([]);
    expect([focus.listeners.size, online.listeners.size]).toEqual([0, 0]);
    expect(cache.watchDoc('wo', '9')).toBeTypeOf('function');
    expect(rt.channels).toEqual([]);
  });
});

describe('handler: payload -> cache updates', () => {
  test('doc update: only doc:<type>:<id> is invalidated; other docs and lists untouched', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { id: '123', version: 5 });
    qc.setQueryData(keys.doc('wo', '456'), { id: '456', version: 2 });
    qc.setQueryData(keys.doc('pl', '123'), { id: '123', version: 1 });
    qc.setQueryData(keys.list('wo', 'f1'), ['123']);
    rt.get('doc:wo:123').emit(ev({ version: 6, changedKeys: ['status'] }));
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
    expect(invalidated(qc, keys.doc('wo', '456'))).toBe(false);
    expect(invalidated(qc, keys.doc('pl', '123'))).toBe(false);
    expect(invalidated(qc, keys.list('wo', 'f1'))).toBe(false);
  });

  test('regression: changedKeys without new values never patch (the playbook read values the payload lacks)', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { status: 'open', version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2, changedKeys: ['status'] }));
    clock.advance(cache.windowMs);
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ status: 'open', version: 1 });
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
    expect(cache.stats()).toMatchObject({ patched: 0, invalidated: 1 });
  });

  test('a patch covering every changed key is applied with its version, without invalidating', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { status: 'open', qty: 1, version: 1 });
    rt.get('doc:wo:123').emit(ev({ action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } }));
    clock.advance(cache.windowMs);
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ status: 'approved', qty: 1, version: 2 });
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
  });

  test('a patch missing one changed key invalidates instead', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { status: 'open', qty: 1, version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2, changedKeys: ['status', 'qty'], patch: { status: 'x' } }));
    clock.advance(cache.windowMs);
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ status: 'open', qty: 1, version: 1 });
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
  });

  test('list create/delete: only page 1 of list:<type>:<factoryId> is invalidated; delete also the doc', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchList('wo');
    rt.joinAll();
    qc.setQueryData(keys.list('wo', 'f1', 1), ['a']);
    qc.setQueryData(keys.list('wo', 'f1', 2), ['b']);
    qc.setQueryData(keys.list('wo', 'f2', 1), ['c']);
    qc.setQueryData(keys.list('pl', 'f1', 1), ['d']);
    qc.setQueryData(keys.doc('wo', 'a'), { version: 1 });
    rt.get('list:wo:f1').emit(ev({ id: 'a', action: 'delete' }));
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.list('wo', 'f1', 1))).toBe(true);
    expect(invalidated(qc, keys.doc('wo', 'a'))).toBe(true);
    expect(invalidated(qc, keys.list('wo', 'f1', 2))).toBe(false);
    expect(invalidated(qc, keys.list('wo', 'f2', 1))).toBe(false);
    expect(invalidated(qc, keys.list('pl', 'f1', 1))).toBe(false);
    expect(cache.stats().listRefetches).toBe(1);
  });

  test('a factory summary refetches that type\'s list head in that factory', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchList('grn');
    rt.joinAll();
    qc.setQueryData(keys.list('grn', 'f1', 1), ['a']);
    qc.setQueryData(keys.list('wo', 'f1', 1), ['b']);
    rt.get('factory:f1').emit({ type: 'grn', id: '*', factoryId: 'f1', action: 'create', count: 500 });
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.list('grn', 'f1', 1))).toBe(true);
    expect(invalidated(qc, keys.list('wo', 'f1', 1))).toBe(false);
  });

  test('version guard: a stale version is ignored; a newer one replaces the cached doc', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { status: 'b', version: 5 });
    const ch = rt.get('doc:wo:123');
    ch.emit(ev({ version: 4, changedKeys: ['status'], patch: { status: 'a' } }));
    clock.advance(cache.windowMs);
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ status: 'b', version: 5 });
    expect(cache.stats().dropped.stale).toBe(1);
    ch.emit(ev({ version: 6, changedKeys: ['status'], patch: { status: 'c' } }));
    clock.advance(cache.windowMs);
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ status: 'c', version: 6 });
  });

  test('an event of another factory is dropped (scope check before handling)', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    rt.get('doc:wo:123').emit(ev({ factoryId: 'f9', version: 2 }));
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
    expect(cache.stats().dropped.scope).toBe(1);
  });

  test('a payload outside the contract is refused, counted and reported, never applied', () => {
    const errors: string[] = [];
    const { rt, cache, qc, clock } = setup({ onError: (e) => errors.push(e.code) });
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    const ch = rt.get('doc:wo:123');
    ch.emit(ev({ action: 'explode' }));
    ch.emit(ev({ version: -1 }));
    ch.emit(ev({ password: 'x' }));
    clock.advance(1000);
    expect(errors).toEqual(['unknown_action', 'bad_value', 'unknown_field']);
    expect(cache.stats()).toMatchObject({ received: 0, dropped: { invalid: 3 } });
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
  });
});

describe('debounce and coalescing', () => {
  test('10 events within 200 ms produce one handler call, when the window (opened by the first) ends', () => {
    const { rt, cache, qc, clock } = setup({ windowMs: 300 });
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    const ch = rt.get('doc:wo:123');
    for (let i = 0; i < 10; i++) {
      ch.emit(ev({ version: 2 + i }));
      clock.advance(20);
    }
    expect(cache.stats().batches).toBe(0);
    clock.advance(299 - 200);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
    clock.advance(1);
    expect(cache.stats()).toMatchObject({ received: 10, batches: 1, invalidated: 1 });
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
  });

  test('the window is clamped to 250..500 ms', () => {
    expect(setup({ windowMs: 100 }).cache.windowMs).toBe(250);
    expect(setup({ windowMs: 900 }).cache.windowMs).toBe(500);
    expect(setup({}).cache.windowMs).toBe(300);
  });

  test('focus regained (query-core focusManager) flushes at once; focus lost does not', () => {
    const { rt, cache, qc, focus } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2 }));
    focus.set(false);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
    focus.set(true);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
  });

  test('back online (query-core onlineManager) flushes at once', () => {
    const { rt, cache, qc, online } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2 }));
    online.set(false);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
    online.set(true);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
  });

  test('by default the cache listens to query-core\'s own focusManager and onlineManager (no listener of its own)', async () => {
    const qc = new QueryClient();
    const rt = new FakeRealtime();
    const before = [(focusManager as unknown as { listeners: Set<unknown> }).listeners.size, (onlineManager as unknown as { listeners: Set<unknown> }).listeners.size];
    const cache = createRealtimeCache({ queryClient: qc, realtime: rt, factoryId: 'f1', clock: new ManualClock() });
    cache.watchDoc('wo', '1');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '1'), { version: 1 });
    rt.get('doc:wo:1').emit(ev({ id: '1', version: 2 }));
    focusManager.setFocused(false);
    focusManager.setFocused(true);
    focusManager.setFocused(undefined);
    expect(invalidated(qc, keys.doc('wo', '1'))).toBe(true);
    await cache.dispose();
    expect([(focusManager as unknown as { listeners: Set<unknown> }).listeners.size, (onlineManager as unknown as { listeners: Set<unknown> }).listeners.size]).toEqual(before);
  });

  test('flush() before a route change applies pending events now, and the timer is cleared', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    rt.get('doc:wo:123').emit(ev({ version: 2 }));
    expect(clock.pending()).toBe(1);
    cache.flush();
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  test('more distinct keys than maxPending in one window degrade to one resync of every active view', () => {
    const { rt, cache, qc, clock } = setup({ maxPending: 2 });
    for (const id of ['1', '2', '3']) qc.setQueryData(keys.doc('wo', id), { version: 1 });
    cache.watchList('wo');
    rt.joinAll();
    for (const id of ['1', '2', '3']) rt.get('list:wo:f1').emit(ev({ id, version: 2 }));
    clock.advance(cache.windowMs);
    expect(cache.stats().resyncs).toBe(1);
    for (const id of ['1', '2', '3']) expect(invalidated(qc, keys.doc('wo', id))).toBe(true);
  });
});

describe('an event during an in-flight fetch (TanStack/query#8530)', () => {
  test('is applied as a refetch once the fetch settles, so the older result does not win', async () => {
    const { rt, cache, qc, clock } = setup();
    let calls = 0;
    let release!: (v: { version: number }) => void;
    const obs = new QueryObserver(qc, {
      queryKey: keys.doc('wo', '123'),
      queryFn: () => {
        calls++;
        return calls === 1 ? new Promise<{ version: number }>((r) => (release = r)) : Promise.resolve({ version: 2 });
      },
    });
    const unsub = obs.subscribe(() => {});
    cache.watchDoc('wo', '123');
    rt.joinAll();
    expect(qc.getQueryState(keys.doc('wo', '123'))?.fetchStatus).toBe('fetching'); // first load, no data yet
    rt.get('doc:wo:123').emit(ev({ version: 2, changedKeys: ['status'], patch: { status: 'x' } }));
    clock.advance(cache.windowMs);
    expect(calls).toBe(1);
    release({ version: 1 });
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(2);
    await new Promise((r) => setTimeout(r, 0));
    expect(qc.getQueryData(keys.doc('wo', '123'))).toEqual({ version: 2 });
    unsub();
  });
});

describe('resilience: resume by offset, one refetch when not recovered', () => {
  test('the first join stores rtcache\'s position; each event advances it in the join payload', () => {
    const { rt, cache, qc } = setup();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    cache.watchDoc('wo', '123');
    const ch = rt.get('doc:wo:123');
    expect(ch.joinsSent[0]?.rtcache).toBeUndefined();
    ch.reply('ok', { rtcache: { epoch: 'e1', offset: 7, recovered: false } });
    expect(cache.position('doc:wo:123')).toEqual({ epoch: 'e1', offset: 7 });
    ch.emit(ev({ version: 2, offset: 8 }));
    expect(ch.payload.rtcache).toEqual({ epoch: 'e1', offset: 8 });
    expect(cache.stats().recoveries).toBe(0);
  });

  test('a recovered rejoin replays without any refetch', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    rt.joinAll('e1', 3);
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    const ch = rt.get('doc:wo:123');
    ch.drop();
    ch.rejoin();
    expect(ch.joinsSent.at(-1)?.rtcache).toEqual({ epoch: 'e1', offset: 3 });
    ch.reply('ok', { rtcache: { epoch: 'e1', offset: 3, recovered: true } });
    clock.advance(1000);
    expect(cache.status().recovered).toBe(true);
    expect(cache.stats().recoveries).toBe(0);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false);
  });

  test('a rejoin answered recovered:false (new epoch) refetches the shown doc and list head once', () => {
    const { rt, cache, qc, clock } = setup();
    cache.watchDoc('wo', '123');
    cache.watchList('wo');
    rt.joinAll('e1', 3);
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    qc.setQueryData(keys.list('wo', 'f1', 1), ['123']);
    qc.setQueryData(keys.list('wo', 'f1', 2), ['9']);
    for (const ch of rt.channels) {
      ch.drop();
      ch.rejoin();
      ch.reply('ok', { rtcache: { epoch: 'e2', offset: 0, recovered: false } });
    }
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(false); // one window later, all at once
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
    expect(invalidated(qc, keys.list('wo', 'f1', 1))).toBe(true);
    expect(invalidated(qc, keys.list('wo', 'f1', 2))).toBe(false);
    // doc + list head (the list and factory channels both ask for the same head: deduplicated).
    expect(cache.stats().recoveries).toBe(2);
    expect(cache.status().recovered).toBe(false);
    expect(cache.position('doc:wo:123')).toEqual({ epoch: 'e2', offset: 0 });
  });

  test('a rejoin without any rtcache position (plain Supabase) is treated as not recovered', () => {
    const { rt, cache, qc, clock } = setup();
    qc.setQueryData(keys.doc('wo', '123'), { version: 1 });
    cache.watchDoc('wo', '123');
    for (const ch of rt.channels) ch.reply('ok', {});
    const ch = rt.get('doc:wo:123');
    ch.drop();
    ch.rejoin();
    ch.reply('ok', {});
    clock.advance(cache.windowMs);
    expect(invalidated(qc, keys.doc('wo', '123'))).toBe(true);
  });

  test('setAuth pushes the token and resubscribes a refused channel, keeping its position', async () => {
    const { rt, cache } = setup();
    cache.watchList('wo');
    rt.get('factory:f1').reply('ok', { rtcache: { epoch: 'e1', offset: 4, recovered: false } });
    const list = rt.get('list:wo:f1');
    list.reply('error', { reason: 'Unauthorized' });
    expect(cache.status().connected).toBe(false);
    await cache.setAuth('new-token');
    await microtasks();
    expect(rt.tokens).toEqual(['new-token']);
    const again = rt.get('list:wo:f1');
    expect(again).not.toBe(list);
    expect(rt.created.filter((c) => c.topic === 'realtime:factory:f1').length).toBe(1);
    again.reply('ok', { rtcache: { epoch: 'e1', offset: 0, recovered: false } });
    expect(cache.status()).toMatchObject({ connected: true, channels: 2 });
  });

  test('onStatus reports connection changes', () => {
    const seen: unknown[] = [];
    const { rt, cache } = setup({ onStatus: (s) => seen.push(s) });
    cache.watchDoc('wo', '1');
    rt.joinAll();
    expect(seen.at(-1)).toEqual({ connected: true, channels: 2 });
    rt.get('doc:wo:1').drop();
    expect(seen.at(-1)).toEqual({ connected: false, channels: 2 });
  });
});
