// Seeded generator of the cost benchmark's recorded workloads (bench/workloads/*.jsonl). The same seed and
// options always write the same bytes. Run: npm run bench:generate  (rewrites both committed files)
//
// What one client of a factory app sees over a shift, per channel, as rtcache routes it (docs/design.md §3):
//   - bursts: a hot doc gets 10..50 updates within 200 ms (one transaction each): doc:, list: (update) and
//     factory: (one summary per transaction); most carry a `patch` covering the change, some (a notes edit,
//     a column the config does not send) do not;
//   - approvals (status -> approved, patched), background updates of rows nobody opened (list: + factory:);
//   - list churn: creates and deletes (list: + factory:), a delete sometimes inside page 1;
//   - a 2,000-row bulk update (per-row doc: events, list: messages for the first list_row_limit rows only,
//     one factory: summary) and a 1,200-row bulk insert;
//   - a watched doc moved to another factory: its doc: channel then carries that factory's events, which the
//     panel it was opened in must drop (cross-factory);
//   - relay-sourced bursts delivered out of version order, and late re-deliveries of an old version.
import type { EventPayload } from '../src/index.js';
import { formatWorkload, type Commit, type Delivery, type Meta, type PanelSpec, type Row, type Workload } from './workload.js';

export interface GeneratorOptions {
  name: string;
  seed: number;
  /** Virtual duration of the recording; events start at 1 s. */
  durationMs: number;
  bulkUpdateAtMs: number;
  bulkUpdateRows: number;
  bulkInsertAtMs: number;
  bulkInsertRows: number;
  moveAtMs: number;
  /** Mean gap between bursts per factory. */
  burstEveryMs: number;
}

export const FULL: GeneratorOptions = {
  name: 'factory-shift',
  seed: 20261125,
  durationMs: 180_000,
  bulkUpdateAtMs: 60_000,
  bulkUpdateRows: 2000,
  bulkInsertAtMs: 120_000,
  bulkInsertRows: 1200,
  moveAtMs: 90_000,
  burstEveryMs: 9_000,
};

export const QUICK: GeneratorOptions = {
  name: 'factory-shift-quick',
  seed: 7,
  durationMs: 30_000,
  bulkUpdateAtMs: 10_000,
  bulkUpdateRows: 2000,
  bulkInsertAtMs: 20_000,
  bulkInsertRows: 1200,
  moveAtMs: 15_000,
  burstEveryMs: 6_000,
};

/** mulberry32: small, fast, and the same in every JavaScript engine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EPOCH_ISO = '2026-01-02T06:00:00.000Z';
const EPOCH = Date.parse(EPOCH_ISO);
const LIST_ROW_LIMIT = 1000; // the router's default (src/server/routing/mapping_config.hpp)
const FACTORIES = ['f1', 'f2', 'f3'];
const LIST_SIZE: Record<string, number> = { f1: 2400, f2: 300, f3: 300 };

export function generate(o: GeneratorOptions): Workload {
  const r = rng(o.seed);
  const between = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const iso = (ms: number) => new Date(EPOCH + ms).toISOString();

  const commits: Commit[] = [];
  const deliveries: Delivery[] = [];
  const offsets = new Map<string, number>();
  const deliver = (at: number, ch: string, ev: EventPayload) => {
    const offset = (offsets.get(ch) ?? 0) + 1;
    offsets.set(ch, offset);
    deliveries.push({ k: 'ev', at, ch, ev: { ...ev, offset } });
    wal = Math.max(wal, at);
  };

  // ---- Rows and views.
  const wo = (f: string, n: number) => `${f}-wo-${String(n).padStart(4, '0')}`;
  const lists = new Map<string, string[]>(); // "type:factory" -> ids newest first
  const nextRow = new Map<string, number>();
  for (const f of FACTORIES) {
    const n = LIST_SIZE[f]!;
    lists.set(`wo:${f}`, Array.from({ length: n }, (_, i) => wo(f, n - i)));
    nextRow.set(f, n + 1);
  }
  lists.set('grn:f1', Array.from({ length: 120 }, (_, i) => `f1-grn-${String(120 - i).padStart(4, '0')}`));
  let grnNext = 121;

  // Hot docs: two open work orders per factory, plus a lot; rows old enough not to be on page 1.
  const docs = new Map<string, { type: string; id: string; factory: string; version: number; row: Row }>();
  const panels: PanelSpec[] = FACTORIES.map((f) => {
    const hot = [wo(f, 7), wo(f, 42)];
    const lot = `${f}-lot-0003`;
    for (const id of hot) docs.set(`wo:${id}`, { type: 'wo', id, factory: f, version: 1, row: { status: 'open', qty_done: 0, notes: 'n0' } });
    docs.set(`lot:${lot}`, { type: 'lot', id: lot, factory: f, version: 1, row: { status: 'open', qty_done: 0, notes: 'n0' } });
    return { factory: f, docs: [...hot.map((id) => ({ type: 'wo', id })), { type: 'lot', id: lot }], lists: f === 'f1' ? ['wo', 'grn'] : ['wo'] };
  });
  const meta: Meta = {
    k: 'meta',
    name: o.name,
    seed: o.seed,
    endMs: o.durationMs + 5_000,
    epochIso: EPOCH_ISO,
    listPageRows: 20,
    listRowBytes: 160,
    listEnvelopeBytes: 256,
    docBytesMin: 1024,
    docBytesMax: 3072,
    listRowLimit: LIST_ROW_LIMIT,
    panels,
    initial: {
      docs: [...docs.values()].map((d) => ({ ...d, row: { ...d.row } })),
      lists: [...lists.entries()].map(([k, ids]) => {
        const [type, factory] = k.split(':') as [string, string];
        return { type, factory, ids: [...ids] };
      }),
    },
  };
  const watchedList = (type: string, f: string) => panels.some((p) => p.factory === f && p.lists.includes(type));
  // rtcache delivers in commit order (one replication stream): a delivery is 5..30 ms after its commit and
  // never before an earlier commit's. Only relay bursts are disordered, afterwards.
  let wal = 0;
  const arrive = (ts: number) => Math.max(wal, ts + between(5, 30));

  // One transaction's per-row change to a doc: the commit (when viewed) and what each channel carries.
  const summaries = new Map<string, number>();
  const summary = (f: string, type: string, action: EventPayload['action']) => {
    const k = `${f}\0${type}\0${action}`;
    summaries.set(k, (summaries.get(k) ?? 0) + 1);
  };
  const flushSummaries = (ts: number, at: number) => {
    for (const [k, count] of summaries) {
      const [f, type, action] = k.split('\0') as [string, string, EventPayload['action']];
      deliver(at, `factory:${f}`, { type, id: '*', factoryId: f, action, count, ts: iso(ts) });
    }
    summaries.clear();
  };

  type Change = { col: string; value: string | number; sent: boolean };
  const updateDoc = (ts: number, at: number, key: string, action: 'update' | 'approve', change: Change, opts: { listMsg: boolean }) => {
    const d = docs.get(key)!;
    d.version++;
    d.row = { ...d.row, [change.col]: change.value };
    commits.push({ k: 'commit', ts, op: 'update', type: d.type, id: d.id, factory: d.factory, version: d.version, row: { ...d.row } });
    const ev: EventPayload = { type: d.type, id: d.id, factoryId: d.factory, action, changedKeys: [change.col], version: d.version, ts: iso(ts) };
    if (change.sent) ev.patch = { [change.col]: change.value };
    deliver(at, `doc:${d.type}:${d.id}`, ev);
    if (opts.listMsg && watchedList(d.type, d.factory)) deliver(at, `list:${d.type}:${d.factory}`, ev);
    summary(d.factory, d.type, action);
    return ev;
  };

  // Everything that bumps a version runs in time order (jobs), so versions follow commit order.
  const jobs: Array<{ t: number; seq: number; run: () => void }> = [];
  const at = (t: number, run: () => void) => jobs.push({ t, seq: jobs.length, run });

  // ---- Bursts on hot docs (a quarter relay-sourced: out of version order, an old version re-delivered).
  let noteSeq = 0;
  const relayBursts: Delivery[][] = [];
  for (const p of panels) {
    for (let t = 1000 + between(0, o.burstEveryMs); t < o.durationMs; t += between(o.burstEveryMs / 2, (o.burstEveryMs * 3) / 2)) {
      const ref = pick(p.docs);
      const key = `${ref.type}:${ref.id}`;
      const n = between(10, 50);
      const group: Delivery[] | null = r() < 0.25 ? [] : null;
      if (group) relayBursts.push(group);
      const times = Array.from({ length: n }, () => between(0, 200)).sort((a, b) => a - b);
      for (const dt of times) {
        at(t + dt, () => {
          const ts = t + dt;
          const when = arrive(ts);
          const d = docs.get(key)!;
          const change: Change =
            r() < 0.15 ? { col: 'notes', value: `n${++noteSeq}`, sent: false } : { col: 'qty_done', value: (d.row.qty_done as number) + between(1, 5), sent: true };
          const before = deliveries.length;
          updateDoc(ts, when, key, 'update', change, { listMsg: true });
          flushSummaries(ts, when);
          if (group) group.push(deliveries[before]!); // the doc: copy
        });
      }
    }
  }

  // ---- Approvals (patched), background updates of unopened rows, list churn.
  for (const p of panels) {
    const f = p.factory;
    for (let t = 1500 + between(0, 20_000); t < o.durationMs; t += between(15_000, 35_000)) {
      const ref = pick(p.docs);
      at(t, () => {
        const key = `${ref.type}:${ref.id}`;
        const when = arrive(t);
        const status = docs.get(key)!.row.status === 'approved' ? 'reopened' : 'approved';
        updateDoc(t, when, key, 'approve', { col: 'status', value: status, sent: true }, { listMsg: true });
        flushSummaries(t, when);
      });
    }
    for (let t = 1200 + between(0, 2000); t < o.durationMs; t += between(800, 3200)) {
      at(t, () => {
        const ids = lists.get(`wo:${f}`)!;
        const hot = new Set(p.docs.map((x) => x.id));
        let id = ids[between(25, ids.length - 1)]!;
        if (hot.has(id)) id = ids[ids.length - 1]!;
        const when = arrive(t);
        deliver(when, `list:wo:${f}`, { type: 'wo', id, factoryId: f, action: 'update', changedKeys: ['qty_done'], version: between(2, 40), ts: iso(t), patch: { qty_done: between(1, 500) } });
        summary(f, 'wo', 'update');
        flushSummaries(t, when);
      });
    }
    for (const type of p.lists) {
      for (let t = 2000 + between(0, 5000); t < o.durationMs; t += between(4000, 12_000)) {
        at(t, () => {
          const ids = lists.get(`${type}:${f}`)!;
          const when = arrive(t);
          if (r() < 0.6) {
            const id = type === 'wo' ? wo(f, nextRow.get(f)!) : `f1-grn-${String(grnNext).padStart(4, '0')}`;
            if (type === 'wo') nextRow.set(f, nextRow.get(f)! + 1);
            else grnNext++;
            ids.unshift(id);
            commits.push({ k: 'commit', ts: t, op: 'create', type, ids: [id], factory: f });
            deliver(when, `list:${type}:${f}`, { type, id, factoryId: f, action: 'create', version: 1, ts: iso(t) });
            summary(f, type, 'create');
          } else {
            // A delete lands in page 1 about a third of the time; opened docs are never deleted.
            const opened = new Set([...docs.values()].map((x) => x.id));
            let idx = r() < 0.35 ? between(0, 19) : between(20, ids.length - 1);
            while (opened.has(ids[idx]!)) idx = (idx + 1) % ids.length;
            const [id] = ids.splice(idx, 1) as [string];
            commits.push({ k: 'commit', ts: t, op: 'delete', type, id, factory: f });
            deliver(when, `list:${type}:${f}`, { type, id, factoryId: f, action: 'delete', ts: iso(t) });
            summary(f, type, 'delete');
          }
          flushSummaries(t, when);
        });
      }
    }
  }

  // ---- A 2,000-row bulk update in f1, the two opened work orders among its rows (one inside the list
  // limit, one beyond it): per-row doc: events, list: messages for the first list_row_limit rows only, one
  // factory summary; pushed out over ~80 ms.
  at(o.bulkUpdateAtMs, () => {
    const t = o.bulkUpdateAtMs;
    const at0 = arrive(t);
    const hot = panels[0]!.docs.filter((h) => h.type === 'wo').map((h) => h.id);
    const ids = lists.get('wo:f1')!.filter((id) => !hot.includes(id)).slice(0, o.bulkUpdateRows - hot.length);
    ids.splice(Math.floor(LIST_ROW_LIMIT / 2), 0, hot[0]!);
    ids.splice(Math.floor((o.bulkUpdateRows + LIST_ROW_LIMIT) / 2), 0, hot[1]!);
    ids.forEach((id, i) => {
      const when = at0 + Math.floor(i / 25);
      const key = `wo:${id}`;
      if (docs.has(key)) {
        const ev = updateDoc(t, when, key, 'update', { col: 'status', value: 'released', sent: true }, { listMsg: false });
        if (i < LIST_ROW_LIMIT) deliver(when, 'list:wo:f1', ev);
        return;
      }
      if (i < LIST_ROW_LIMIT) deliver(when, 'list:wo:f1', { type: 'wo', id, factoryId: 'f1', action: 'update', changedKeys: ['status'], version: 2, ts: iso(t), patch: { status: 'released' } });
      summary('f1', 'wo', 'update');
    });
    flushSummaries(t, at0 + Math.floor(ids.length / 25));
  });

  // ---- A 1,200-row bulk insert in f2 (one transaction).
  at(o.bulkInsertAtMs, () => {
    const t = o.bulkInsertAtMs;
    const at0 = arrive(t);
    const ids: string[] = [];
    for (let i = 0; i < o.bulkInsertRows; i++) {
      const id = wo('f2', nextRow.get('f2')!);
      nextRow.set('f2', nextRow.get('f2')! + 1);
      ids.push(id);
      if (i < LIST_ROW_LIMIT) deliver(at0 + Math.floor(i / 25), 'list:wo:f2', { type: 'wo', id, factoryId: 'f2', action: 'create', version: 1, ts: iso(t) });
      summary('f2', 'wo', 'create');
    }
    lists.get('wo:f2')!.unshift(...ids.slice().reverse());
    commits.push({ k: 'commit', ts: t, op: 'create', type: 'wo', ids: ids.slice().reverse(), factory: 'f2' });
    flushSummaries(t, at0 + Math.floor(ids.length / 25));
  });

  // ---- Cross-factory: the f3 panel's first work order moves to f2. Its doc: channel then carries f2's
  // events (the bursts keep coming), which the f3 panel must drop.
  at(o.moveAtMs, () => {
    const t = o.moveAtMs;
    const when = arrive(t);
    const d = docs.get(`wo:${wo('f3', 7)}`)!;
    d.version++;
    d.factory = 'f2';
    const ids3 = lists.get('wo:f3')!;
    const i3 = ids3.indexOf(d.id);
    if (i3 >= 0) ids3.splice(i3, 1);
    lists.get('wo:f2')!.unshift(d.id);
    commits.push({ k: 'commit', ts: t, op: 'delete', type: 'wo', id: d.id, factory: 'f3' });
    commits.push({ k: 'commit', ts: t, op: 'create', type: 'wo', ids: [d.id], factory: 'f2', version: d.version, row: { ...d.row } });
    const base = { type: 'wo', id: d.id, version: d.version, ts: iso(t) };
    deliver(when, `doc:wo:${d.id}`, { ...base, factoryId: 'f3', action: 'delete' });
    deliver(when, `doc:wo:${d.id}`, { ...base, factoryId: 'f2', action: 'create' });
    deliver(when, 'list:wo:f3', { ...base, factoryId: 'f3', action: 'delete' });
    deliver(when, 'list:wo:f2', { ...base, factoryId: 'f2', action: 'create' });
    deliver(when, 'factory:f3', { type: 'wo', id: '*', factoryId: 'f3', action: 'delete', count: 1, ts: iso(t) });
    deliver(when, 'factory:f2', { type: 'wo', id: '*', factoryId: 'f2', action: 'create', count: 1, ts: iso(t) });
  });

  jobs.sort((a, b) => a.t - b.t || a.seq - b.seq);
  for (const j of jobs) j.run();

  // ---- Relay disorder, applied to the doc: copies: adjacent versions swapped, an old one delivered again.
  for (const g of relayBursts) {
    if (g.length < 4) continue;
    for (let s = 0; s < 3; s++) {
      const i = between(0, g.length - 2);
      const a = g[i]!;
      const b = g[i + 1]!;
      [a.at, b.at] = [b.at + 1, a.at];
    }
    const old = g[between(0, g.length - 2)]!;
    const { offset: _offset, ...payload } = old.ev;
    deliver(Math.max(...g.map((x) => x.at)) + between(100, 600), old.ch, payload);
  }

  return { meta, commits, deliveries: renumber(deliveries) };
}

// Offsets are per channel and increase in delivery order (the relay's disorder is in versions, not offsets).
function renumber(ds: Delivery[]): Delivery[] {
  const order = new Map(ds.map((d, i) => [d, i]));
  const sorted = [...ds].sort((a, b) => a.at - b.at || order.get(a)! - order.get(b)!);
  const next = new Map<string, number>();
  for (const d of sorted) {
    const n = (next.get(d.ch) ?? 0) + 1;
    next.set(d.ch, n);
    d.ev = { ...d.ev, offset: n };
  }
  return sorted;
}
