// The cost benchmark's accounting (bench/harness.ts), checked on a workload small enough to count by hand:
// each strategy's refetches, bytes, events and staleness must be exactly what its rules imply. This tests
// the harness, not performance; the figures of the recorded workloads are in docs/benchmarks-cost.md.
import { describe, expect, test } from 'vitest';
import { docBytes, listPageBytes, runStrategy, viewsOf, type StrategyResult } from '../bench/harness.js';
import { loadWorkload, parseWorkload, formatWorkload, type Commit, type Delivery, type Workload } from '../bench/workload.js';
import { FULL, QUICK, generate } from '../bench/generate-workload.js';
import type { EventPayload } from '../src/index.js';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const A = 'f1-wo-a';
const EPOCH = '2026-01-02T06:00:00.000Z';
const iso = (ms: number) => new Date(Date.parse(EPOCH) + ms).toISOString();

// One panel (factory f1) showing doc wo:A and the head of list wo:f1.
//   1000..1180  10 updates of A (v2..v11, 20 ms apart, each committed 5 ms before delivery), patched qty_done
//   3000        a create in list wo:f1 (page 1 changes)
//   5000        A v12: notes changed, no patch (the column is not sent)
//   7000        an event for A stamped with factory f2 (cross-factory: nothing committed in f1)
//   9000        A v3 delivered again (an old version, relay retry)
function tinyWorkload(): Workload {
  const commits: Commit[] = [];
  const deliveries: Delivery[] = [];
  const row = { status: 'open', qty_done: 0, notes: 'n0' };
  const upd = (at: number, ev: Partial<EventPayload>, ch = `doc:wo:${A}`) =>
    deliveries.push({ k: 'ev', at, ch, ev: { type: 'wo', id: A, factoryId: 'f1', action: 'update', ts: iso(at - 5), ...ev } as EventPayload });
  for (let i = 0; i < 10; i++) {
    const at = 1000 + 20 * i;
    row.qty_done = i + 1;
    commits.push({ k: 'commit', ts: at - 5, op: 'update', type: 'wo', id: A, factory: 'f1', version: i + 2, row: { ...row } });
    upd(at, { version: i + 2, changedKeys: ['qty_done'], patch: { qty_done: i + 1 } });
  }
  commits.push({ k: 'commit', ts: 2995, op: 'create', type: 'wo', ids: ['f1-wo-new'], factory: 'f1' });
  deliveries.push({ k: 'ev', at: 3000, ch: 'list:wo:f1', ev: { type: 'wo', id: 'f1-wo-new', factoryId: 'f1', action: 'create', version: 1, ts: iso(2995) } });
  row.notes = 'n1';
  commits.push({ k: 'commit', ts: 4995, op: 'update', type: 'wo', id: A, factory: 'f1', version: 12, row: { ...row } });
  upd(5000, { version: 12, changedKeys: ['notes'] });
  upd(7000, { factoryId: 'f2', version: 13, changedKeys: ['qty_done'], patch: { qty_done: 99 } });
  upd(9000, { version: 3, changedKeys: ['qty_done'], patch: { qty_done: 2 } });
  return {
    meta: {
      k: 'meta',
      name: 'tiny',
      seed: 0,
      endMs: 12_000,
      epochIso: EPOCH,
      listPageRows: 20,
      listRowBytes: 160,
      listEnvelopeBytes: 256,
      docBytesMin: 1024,
      docBytesMax: 3072,
      listRowLimit: 1000,
      panels: [{ factory: 'f1', docs: [{ type: 'wo', id: A }], lists: ['wo'] }],
      initial: {
        docs: [{ type: 'wo', id: A, factory: 'f1', version: 1, row: { status: 'open', qty_done: 0, notes: 'n0' } }],
        lists: [{ type: 'wo', factory: 'f1', ids: Array.from({ length: 25 }, (_, i) => `f1-wo-${String(25 - i).padStart(4, '0')}`) }],
      },
    },
    commits,
    deliveries,
  };
}

describe('cost harness accounting on a hand-countable workload', () => {
  const w = tinyWorkload();
  const doc = docBytes(w, 'wo', A);
  const list = listPageBytes(w);
  const run = (s: 'per-event' | 'playbook' | 'rtcache'): Promise<StrategyResult> => runStrategy(w, s, { rttMs: 40, windowMs: 300 });

  test('the workload survives its file format, and two views are shown', () => {
    expect(parseWorkload(formatWorkload(w))).toEqual(w);
    expect(viewsOf(w).map((v) => v.name)).toEqual([`f1 doc:wo:${A}`, 'f1 list:wo:f1']);
    expect(list).toBe(256 + 20 * 160);
    expect(doc).toBeGreaterThanOrEqual(1024);
    expect(doc).toBeLessThanOrEqual(3072);
  });

  test('per-event invalidation: every message refetches the doc key and the list prefix that exist', async () => {
    const r = await run('per-event');
    // 10 burst messages x (doc + list), the create's list (no query for the new doc), notes x 2,
    // the f2 event's doc only (no f2 list is shown), the old version x 2.
    expect(r).toMatchObject({ events: 14, initialLoads: 2, refetches: 26, docRefetches: 13, listRefetches: 13, sameTickRepeats: 0 });
    expect(r.bytes).toBe(13 * doc + 13 * list);
    // Each burst message cancels the previous request; the last one (1180) reads at 1200, shows at 1220.
    expect(r.stale).toMatchObject({ changes: 12, unreflected: 0, maxMs: 1220 - 995 });
  });

  test('the playbook sample: a version-only "patch" per doc batch, list head on create, stale case refetches', async () => {
    const r = await run('playbook');
    expect(r).toMatchObject({ events: 14, refetches: 2, docRefetches: 1, listRefetches: 1 });
    expect(r.bytes).toBe(doc + list);
    // The burst, the notes edit and the f2 event only bump the cached version; the old v3 then counts as
    // stale, which the sample invalidates: the doc is right again at 9000 + window + round trip.
    expect(r.stale).toMatchObject({ changes: 12, unreflected: 0, maxMs: 9340 - 995 });
  });

  test('rtcache: one patch for the burst, one list head, one doc refetch; cross-factory and old versions dropped', async () => {
    const r = await run('rtcache');
    expect(r).toMatchObject({ events: 14, refetches: 2, docRefetches: 1, listRefetches: 1 });
    expect(r.bytes).toBe(doc + list);
    expect(r).toMatchObject({ viewOpens: 2, initialLoads: 2 }); // the join gate costs no extra fetch
    expect(r.sdk).toMatchObject({ received: 14, patched: 1, invalidated: 1, listRefetches: 1, catchUps: 0, batches: 5, dropped: { scope: 1, stale: 1 } });
    // The create and the notes edit: delivered 5 ms after commit, window 300, round trip 40.
    expect(r.stale).toMatchObject({ changes: 12, unreflected: 0, maxMs: 345, maxSinceDeliveryMs: 340 });
  });

  test('a run is deterministic', async () => {
    expect(await run('rtcache')).toEqual(await run('rtcache'));
  });
});

describe('the recorded workloads', () => {
  test('the committed files are what their seeded generator writes', () => {
    for (const [file, opts] of [
      ['factory-shift.jsonl.gz', FULL],
      ['factory-shift-quick.jsonl.gz', QUICK],
    ] as const) {
      const committed = gunzipSync(readFileSync(new URL(`../bench/workloads/${file}`, import.meta.url))).toString('utf8');
      expect(committed === formatWorkload(generate(opts)), file).toBe(true);
    }
  });

  test('smoke: the quick workload replays against all three strategies (figures are not judged here)', async () => {
    const w = loadWorkload(new URL('../bench/workloads/factory-shift-quick.jsonl.gz', import.meta.url).pathname);
    for (const s of ['per-event', 'playbook', 'rtcache'] as const) {
      const r = await runStrategy(w, s);
      expect(r.initialLoads).toBe(viewsOf(w).length);
      if (s !== 'playbook') expect(r.events).toBe(w.deliveries.length); // every delivery is on a subscribed channel
      if (s === 'rtcache') expect(r.sdk?.received).toBe(r.events);
      expect(r.stale.changes).toBeGreaterThan(0);
    }
  }, 60_000);
});
