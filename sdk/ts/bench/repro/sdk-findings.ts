// Two behaviours of the SDK (src/) the cost benchmark surfaced, as runnable failing cases for its owner:
//   npx vite-node bench/repro/sdk-findings.ts      exits 1 while either reproduces, 0 once both are fixed
// 1. planBatch emits one refetch_list_head per create/delete/summary of a batch, not one per list head: N
//    creates in one window -> N invalidateQueries -> TanStack cancels and re-sends the page-1 request N times
//    (the 1,200-row bulk insert of the benchmark costs 1,000 list refetches instead of 1).
// 2. Out-of-order delivery (relay): a patch to v3 applied on a cached v1 labels the doc v3 although v2's
//    unsent column never arrived; v2 then arrives, is dropped as older than the cached version, and the view
//    shows a wrong value with no refetch ever scheduled.
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createRealtimeCache, keys } from '../../src/index.js';
import { SimRealtime, VirtualClock, useVirtualTime } from '../sim.js';

async function listHeadPerBatch(): Promise<boolean> {
  const clock = new VirtualClock();
  const release = useVirtualTime(clock);
  try {
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
    const realtime = new SimRealtime();
    let calls = 0;
    const obs = new QueryObserver(qc, {
      queryKey: keys.list('wo', 'f1', 1),
      queryFn: () => {
        calls++;
        return new Promise((r) => clock.setTimeout(() => r({ rows: calls }), 40));
      },
    });
    const unsub = obs.subscribe(() => {});
    const rt = createRealtimeCache({ queryClient: qc, realtime, factoryId: 'f1', clock, focusManager: null, onlineManager: null });
    rt.watchList('wo');
    await clock.runUntil(100);
    const before = calls;
    for (const id of ['n1', 'n2', 'n3']) realtime.joined('list:wo:f1')!.broadcast({ type: 'wo', id, factoryId: 'f1', action: 'create', version: 1 });
    await clock.runUntil(1000);
    const refetches = calls - before;
    console.log(`1. three creates in one window: ${refetches} list-head requests (expected 1)`);
    unsub();
    await rt.dispose();
    return refetches !== 1;
  } finally {
    release();
  }
}

async function patchOverGap(): Promise<boolean> {
  const clock = new VirtualClock();
  const release = useVirtualTime(clock);
  try {
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
    const realtime = new SimRealtime();
    const server = { v1: { qty_done: 0, notes: 'a', version: 1 }, v3: { qty_done: 5, notes: 'b', version: 3 } };
    let t = 'v1' as keyof typeof server;
    const obs = new QueryObserver(qc, { queryKey: keys.doc('wo', '1'), queryFn: () => Promise.resolve({ ...server[t] }) });
    const unsub = obs.subscribe(() => {});
    const rt = createRealtimeCache({ queryClient: qc, realtime, factoryId: 'f1', clock, focusManager: null, onlineManager: null });
    rt.watchDoc('wo', '1');
    await clock.runUntil(100);
    t = 'v3'; // v2 changed notes (not sent), v3 changed qty_done (sent); the relay delivers v3 first
    const ch = realtime.joined('doc:wo:1')!;
    ch.broadcast({ type: 'wo', id: '1', factoryId: 'f1', action: 'update', version: 3, changedKeys: ['qty_done'], patch: { qty_done: 5 } });
    await clock.runUntil(1000);
    ch.broadcast({ type: 'wo', id: '1', factoryId: 'f1', action: 'update', version: 2, changedKeys: ['notes'] });
    await clock.runUntil(5000);
    const shown = qc.getQueryData(keys.doc('wo', '1'));
    console.log(`2. v3 patched before v2 arrived: cache shows ${JSON.stringify(shown)}; the database has ${JSON.stringify(server.v3)}`);
    unsub();
    await rt.dispose();
    return JSON.stringify(shown) !== JSON.stringify(server.v3);
  } finally {
    release();
  }
}

const a = await listHeadPerBatch();
const b = await patchOverGap();
process.exit(a || b ? 1 : 0);
