// A server restart loses every channel's history: the SDK's rejoin is answered recovered:false with a new
// epoch, and it refetches what the view shows exactly once. Runs against its own server (it restarts it).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { keys } from '../../src/index.js';
import { Harness, serverUnderTest } from './harness.js';
import { startServer, until, type ServerHandle } from './server.js';

let server: ServerHandle | undefined;
beforeAll(async () => {
  serverUnderTest(); // fails with the reason when there is no binary
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

test('after a server restart: rejoin not recovered, one refetch of the doc and one of the list head', async () => {
  const h = new Harness({ url: server!.url, secret: server!.secret }, { realtime: { reconnectAfterMs: () => 300 } });
  try {
    h.backend.rows.set('wo:r1', { id: 'r1', status: 'open', qty: 1, version: 1 });
    h.backend.lists.set('wo:f1', ['r1']);
    await h.observeDoc('wo', 'r1');
    await h.observePage('wo', 'f1', 1);
    h.cache.watchDoc('wo', 'r1');
    h.cache.watchList('wo');
    await h.connected();
    const before = h.cache.position('doc:wo:r1');
    expect(typeof before?.epoch).toBe('string');

    await server!.stop();
    await server!.start();

    await until(() => h.cache.stats().recoveries > 0, 15000, () => `recovery; ${JSON.stringify(h.cache.stats())} ${JSON.stringify(h.cache.status())}`);
    await until(() => h.backend.count(keys.doc('wo', 'r1')) === 2 && h.backend.count(keys.list('wo', 'f1', 1)) === 2, 5000, 'refetched');
    await h.connected();
    h.cache.flush();
    expect(h.cache.status().recovered).toBe(false);
    // doc:wo:r1 -> the doc; list:wo:f1 and factory:f1 -> the same list head, refetched once.
    expect(h.cache.stats().recoveries).toBe(2);
    expect(h.backend.count(keys.doc('wo', 'r1'))).toBe(2);
    expect(h.backend.count(keys.list('wo', 'f1', 1))).toBe(2);
    expect(h.cache.position('doc:wo:r1')?.epoch).not.toBe(before!.epoch);
  } finally {
    await h.close();
  }
});
