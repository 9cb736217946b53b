// The SDK against a real `rtcache serve` (relay mode): events POSTed by a "backend" with a service_role token
// reach a real realtime-js client, and the QueryClient changes exactly as docs/design.md §6 says.
import { afterEach, describe, expect, test } from 'vitest';
import { keys } from '../../src/index.js';
import { Harness, serverUnderTest } from './harness.js';
import { postEvents, sleep, uniq, until, userToken } from './server.js';

const open: Harness[] = [];
const harness = (opts?: ConstructorParameters<typeof Harness>[1]) => {
  const h = new Harness(serverUnderTest(), opts);
  open.push(h);
  return h;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const ts = (v: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, v)).toISOString();

describe('rtcache serve + realtime-js + QueryClient', () => {
  test('a burst of 10 updates to one doc costs exactly one refetch of that doc, and nothing else', async () => {
    const h = harness({ cache: { windowMs: 500 } }); // the widest window: the burst lands in one even on a busy machine
    const id = uniq('wo');
    const other = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 1 });
    h.backend.rows.set(`wo:${other}`, { id: other, status: 'open', qty: 1, version: 1 });
    const doc = await h.observeDoc('wo', id);
    await h.observeDoc('wo', other);
    h.cache.watchDoc('wo', id);
    await h.connected();

    h.backend.rows.set(`wo:${id}`, { id, status: 'done', qty: 9, version: 11 });
    const burst = Array.from({ length: 10 }, (_, i) => ({ type: 'wo', id, factoryId: 'f1', action: 'update', version: 2 + i, ts: ts(2 + i) }));
    await postEvents(h.server.url, h.server.secret, burst);

    await until(() => h.backend.count(keys.doc('wo', id)) === 2, 5000, () => `refetch; stats ${JSON.stringify(h.cache.stats())}`);
    await until(() => doc.getCurrentResult().data?.version === 11, 5000, 'new data shown');
    expect(h.cache.stats()).toMatchObject({ received: 10, invalidated: 1, batches: 1, patched: 0 });
    h.cache.flush();
    expect(h.backend.count(keys.doc('wo', id))).toBe(2);
    expect(h.backend.count(keys.doc('wo', other))).toBe(1);
  });

  test.each(['1.0.0', '2.0.0'])('vsn %s: an update whose patch covers its changed keys patches the cached doc without a refetch', async (vsn) => {
    const h = harness({ realtime: { vsn } });
    const id = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 3 });
    const doc = await h.observeDoc('wo', id);
    h.cache.watchDoc('wo', id);
    await h.connected();
    await postEvents(h.server.url, h.server.secret, [
      { type: 'wo', id, factoryId: 'f1', action: 'approve', changedKeys: ['status', 'qty'], version: 4, patch: { status: 'approved', qty: 7 } },
    ]);
    await until(() => doc.getCurrentResult().data?.status === 'approved', 5000, () => `patched; ${JSON.stringify(h.cache.stats())}`);
    expect(doc.getCurrentResult().data).toEqual({ id, status: 'approved', qty: 7, version: 4 });
    expect(h.cache.stats()).toMatchObject({ patched: 1, invalidated: 0 });
    expect(h.backend.count(keys.doc('wo', id))).toBe(1);
  });

  test('an event older than the cached version is dropped as stale', async () => {
    const h = harness();
    const id = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 9 });
    const doc = await h.observeDoc('wo', id);
    h.cache.watchDoc('wo', id);
    await h.connected();
    await postEvents(h.server.url, h.server.secret, [
      { type: 'wo', id, factoryId: 'f1', action: 'update', changedKeys: ['status'], version: 8, patch: { status: 'old' } },
    ]);
    await until(() => h.cache.stats().received === 1, 5000, 'received');
    h.cache.flush();
    expect(h.cache.stats().dropped.stale).toBe(1);
    expect(doc.getCurrentResult().data?.status).toBe('open');
    expect(h.backend.count(keys.doc('wo', id))).toBe(1);
  });

  test('a create refetches page 1 of the list only; page 2 is not touched', async () => {
    const h = harness();
    const type = 'grn';
    h.backend.lists.set(`${type}:f1`, ['a', 'b', 'c', 'd']);
    const p1 = await h.observePage(type, 'f1', 1);
    await h.observePage(type, 'f1', 2);
    h.cache.watchList(type);
    await h.connected();
    expect(h.cache.topics().sort()).toEqual(['factory:f1', `list:${type}:f1`]);

    const id = uniq('n');
    h.backend.lists.set(`${type}:f1`, [id, 'a', 'b', 'c', 'd']);
    await postEvents(h.server.url, h.server.secret, [{ type, id, factoryId: 'f1', action: 'create', version: 1 }]);
    await until(() => p1.getCurrentResult().data?.[0] === id, 5000, () => `head refetched; ${JSON.stringify(h.cache.stats())}`);
    expect(h.backend.count(keys.list(type, 'f1', 1))).toBe(2);
    expect(h.backend.count(keys.list(type, 'f1', 2))).toBe(1);
    expect(h.cache.stats().listRefetches).toBe(1);
  });

  test('an infinite list is trimmed to its first page, then refetched (one page read, not three)', async () => {
    const h = harness();
    const type = 'lot';
    h.backend.lists.set(`${type}:f1`, ['a', 'b', 'c', 'd', 'e', 'f']);
    const inf = h.observeInfinite(type, 'f1');
    await until(() => inf.getCurrentResult().isSuccess, 5000, 'first page');
    await inf.fetchNextPage();
    await inf.fetchNextPage();
    expect(inf.getCurrentResult().data?.pages.length).toBe(3);
    h.cache.watchList(type);
    await h.connected();
    const before = h.backend.count(keys.list(type, 'f1', 1)) + h.backend.count(keys.list(type, 'f1', 2)) + h.backend.count(keys.list(type, 'f1', 3));

    h.backend.lists.set(`${type}:f1`, ['z', 'a', 'b', 'c', 'd', 'e', 'f']);
    await postEvents(h.server.url, h.server.secret, [{ type, id: 'z', factoryId: 'f1', action: 'create' }]);
    await until(() => inf.getCurrentResult().data?.pages[0]?.ids[0] === 'z', 5000, () => `refetched; ${JSON.stringify(h.cache.stats())}`);
    await until(() => !inf.getCurrentResult().isFetching, 5000, 'settled');
    expect(inf.getCurrentResult().data?.pages.length).toBe(1);
    const after = h.backend.count(keys.list(type, 'f1', 1)) + h.backend.count(keys.list(type, 'f1', 2)) + h.backend.count(keys.list(type, 'f1', 3));
    expect(after - before).toBe(1);
  });

  test('a factory summary (bulk operation) refetches the list head once', async () => {
    const h = harness();
    const type = 'dn';
    h.backend.lists.set(`${type}:f1`, ['a']);
    await h.observePage(type, 'f1', 1);
    h.cache.watchList(type);
    await h.connected();
    await postEvents(h.server.url, h.server.secret, [{ type, id: '*', factoryId: 'f1', action: 'delete', count: 10000 }]);
    await until(() => h.backend.count(keys.list(type, 'f1', 1)) === 2, 5000, () => `head refetched; ${JSON.stringify(h.cache.stats())}`);
    expect(h.cache.stats()).toMatchObject({ received: 1, listRefetches: 1 });
  });

  test('an event of a factory outside the current scope is dropped (doc channel, token covering both)', async () => {
    const h = harness({ token: userToken(serverUnderTest().secret, ['f1', 'f2']) });
    const id = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 1 });
    await h.observeDoc('wo', id);
    h.cache.watchDoc('wo', id);
    await h.connected();
    await postEvents(h.server.url, h.server.secret, [{ type: 'wo', id, factoryId: 'f2', action: 'update', version: 2 }]);
    await until(() => h.cache.stats().received === 1, 5000, 'received');
    h.cache.flush();
    expect(h.cache.stats().dropped.scope).toBe(1);
    expect(h.backend.count(keys.doc('wo', id))).toBe(1);
  });

  test('setFactory moves every watch to the new scope: old factory events stop, new ones arrive', async () => {
    const h = harness({ token: userToken(serverUnderTest().secret, ['f1', 'f2']) });
    const type = 'pu';
    h.backend.lists.set(`${type}:f2`, ['x']);
    h.cache.watchList(type);
    await h.connected();
    h.cache.setFactory('f2');
    await until(() => h.cache.topics().sort().join() === `factory:f2,list:${type}:f2`, 3000, () => `topics ${h.cache.topics()}`);
    await h.connected();
    await h.observePage(type, 'f2', 1);
    await postEvents(h.server.url, h.server.secret, [
      { type, id: uniq('a'), factoryId: 'f1', action: 'create' },
      { type, id: uniq('b'), factoryId: 'f2', action: 'create' },
    ]);
    await until(() => h.backend.count(keys.list(type, 'f2', 1)) === 2, 5000, () => `f2 head; ${JSON.stringify(h.cache.stats())}`);
    h.cache.flush();
    expect(h.cache.stats().received).toBe(1); // the f1 event never reached this client
  });

  test('TanStack#8530: an event while the doc is fetching triggers one refetch after that fetch', async () => {
    const h = harness();
    const id = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 1 });
    const doc = await h.observeDoc('wo', id);
    h.cache.watchDoc('wo', id);
    await h.connected();

    let release!: () => void;
    h.backend.gate = new Promise<void>((r) => (release = r));
    void doc.refetch(); // reads version 1, then waits at the gate
    await until(() => h.backend.count(keys.doc('wo', id)) === 2, 3000, 'slow fetch started');
    h.backend.rows.set(`wo:${id}`, { id, status: 'done', qty: 1, version: 2 });
    await postEvents(h.server.url, h.server.secret, [{ type: 'wo', id, factoryId: 'f1', action: 'update', version: 2, changedKeys: ['status'], patch: { status: 'done' } }]);
    await until(() => h.cache.stats().received === 1, 5000, 'received');
    h.cache.flush();
    expect(h.cache.stats().invalidated).toBe(1); // afterFetch: not a patch over data about to be replaced
    h.backend.gate = null;
    release();
    await until(() => doc.getCurrentResult().data?.version === 2, 5000, () => `refetch after the slow one; reads ${h.backend.count(keys.doc('wo', id))}`);
    expect(h.backend.count(keys.doc('wo', id))).toBe(3);
  });

  test('after a dropped connection the rejoin resumes by offset: missed events replayed, no refetch', async () => {
    const { url, secret } = serverUnderTest();
    const id = uniq('rs');
    // A keeper holds the channel (and its history) while the client is away.
    const keeper = harness({ token: userToken(secret, ['f1']) });
    keeper.cache.watchDoc('wo', id);
    await keeper.connected();

    const h = harness({ realtime: { reconnectAfterMs: () => 1000 } });
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 1 });
    const doc = await h.observeDoc('wo', id);
    h.cache.watchDoc('wo', id);
    await h.connected();
    await postEvents(url, secret, [{ type: 'wo', id, factoryId: 'f1', action: 'update', version: 2, changedKeys: ['qty'], patch: { qty: 2 } }]);
    await until(() => doc.getCurrentResult().data?.qty === 2, 5000, 'first patch');
    const pos = h.cache.position(`doc:wo:${id}`);
    expect(pos?.offset).toBeGreaterThan(0);

    // The socket, closed under the client: realtime-js keeps it in `conn`, or (2.100+, on @supabase/phoenix)
    // in its socket adapter's phoenix socket.
    type Conn = { close(code: number, reason: string): void };
    const client = h.realtime as unknown as { conn?: Conn; socketAdapter?: { socket: { conn: Conn } } };
    (client.conn ?? client.socketAdapter!.socket.conn).close(4000, 'sdk test: drop');
    await until(() => !h.realtime.isConnected(), 2000, 'socket closed');
    await postEvents(url, secret, [3, 4, 5].map((v) => ({ type: 'wo', id, factoryId: 'f1', action: 'update', version: v, changedKeys: ['qty'], patch: { qty: v } })));
    await until(() => keeper.cache.stats().received === 4, 5000, 'keeper saw all');
    expect(h.realtime.isConnected()).toBe(false);

    await until(() => doc.getCurrentResult().data?.qty === 5, 10000, () => `replayed; ${JSON.stringify(h.cache.stats())}`);
    expect(h.cache.status().recovered).toBe(true);
    expect(h.cache.stats()).toMatchObject({ received: 4, recoveries: 0, invalidated: 0 });
    expect(h.backend.count(keys.doc('wo', id))).toBe(1);
    expect(h.cache.position(`doc:wo:${id}`)).toEqual({ epoch: pos!.epoch, offset: pos!.offset + 3 });
  });

  test('dispose leaves every channel it joined and stops handling events', async () => {
    const h = harness();
    const id = uniq('wo');
    h.backend.rows.set(`wo:${id}`, { id, status: 'open', qty: 1, version: 1 });
    const doc = await h.observeDoc('wo', id);
    const stopDoc = h.cache.watchDoc('wo', id);
    h.cache.watchList('wo');
    await h.connected();
    expect(h.realtime.getChannels().map((c) => c.topic).sort()).toEqual(['realtime:factory:f1', `realtime:doc:wo:${id}`, 'realtime:list:wo:f1'].sort());
    stopDoc();
    await sleep(100);
    expect(h.realtime.getChannels().length).toBe(3); // the doc view (its query) still holds doc:wo:<id>
    h.unobserve(doc);
    await until(() => h.realtime.getChannels().length === 2, 3000, 'doc channel left');
    await h.cache.dispose();
    expect(h.realtime.getChannels()).toEqual([]);
    await postEvents(h.server.url, h.server.secret, [{ type: 'wo', id, factoryId: 'f1', action: 'update', version: 2 }]);
    await sleep(300);
    expect(h.cache.stats().received).toBe(0);
    expect(h.backend.count(keys.doc('wo', id))).toBe(1);
  });

  test('setAuth with a token covering a refused list resubscribes it', async () => {
    const { secret } = serverUnderTest();
    const h = harness({ factoryId: 'f2', token: userToken(secret, ['f1']) });
    const type = 'invoice';
    h.backend.lists.set(`${type}:f2`, ['a']);
    await h.observePage(type, 'f2', 1);
    h.cache.watchList(type); // list:invoice:f2 and factory:f2 are refused for an f1 token
    await sleep(500);
    expect(h.cache.status().connected).toBe(false);
    await h.cache.setAuth(userToken(secret, ["f2"]));
    await h.connected();
    // Loaded while its channels were refused (the gate's wait ran out): fetched once more now they are live.
    await until(() => h.backend.count(keys.list(type, 'f2', 1)) === 2, 5000, () => `caught up; ${JSON.stringify(h.cache.stats())}`);
    await postEvents(h.server.url, h.server.secret, [{ type, id: uniq('i'), factoryId: 'f2', action: 'create' }]);
    await until(() => h.backend.count(keys.list(type, 'f2', 1)) === 3, 5000, () => `head refetched; ${JSON.stringify(h.cache.stats())}`);
  });
});
