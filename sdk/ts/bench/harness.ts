// The cost benchmark's harness: replays a recorded workload (workload.ts) against one client strategy on
// the real @tanstack/query-core QueryClient, in virtual time (sim.ts), and accounts for what it cost and
// how long each visible view lagged behind the database.
//
// Accounting:
//   refetches   queryFn calls after the initial load of each view (a call cancelled by a later
//               invalidation still counts: the request went out); bytes are the modelled response sizes
//   events      messages that reached one of the strategy's handlers
//   stale       per (visible view, committed change to what it shows): from the commit until the first
//               observer result that reflects it; "since delivery" starts at the change's first delivery on
//               one of the view's channels. A doc view reflects version v when its data has version >= v and
//               equals the committed row of its own version (so a patch that bumps the version without the
//               values does not count); a list head reflects a change when its page-1 ids are at least that
//               revision. Changes committed under a factory other than the view's panel are not its to show.
import { QueryClient, QueryObserver, type QueryKey } from '@tanstack/query-core';
import { createRealtimeCache, realtimeQueryOptions, type RealtimeCache, type RealtimeStats } from '../src/index.js';
import { postgresRecordOf, subscribeRealtime } from './playbook_sample.js';
import { SimRealtime, VirtualClock, useVirtualTime } from './sim.js';
import type { Commit, Delivery, Row, Workload } from './workload.js';

export const STRATEGIES = ['per-event', 'playbook', 'rtcache'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface RunOptions {
  /** Modelled request round trip; the server reads its state half-way through. A channel's join reply
   *  also takes one round trip. */
  rttMs: number;
  /** Coalescing window of the playbook sample and of rtcache. */
  windowMs: number;
}
export const DEFAULT_RUN: RunOptions = { rttMs: 40, windowMs: 300 };

export interface StaleStats {
  /** (view, change) pairs measured. */
  changes: number;
  /** Pairs never reflected by the end of the replay. */
  unreflected: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same, from the change's first delivery to the view. */
  maxSinceDeliveryMs: number;
  p99SinceDeliveryMs: number;
  /** The view and change behind maxSinceDeliveryMs. */
  worst?: { view: string; commitMs: number; deliveredMs: number; reflectedMs: number };
}

export interface StrategyResult {
  strategy: StrategyName;
  events: number;
  /** Views opened at the start of the replay, and the queryFn calls made before the first delivery. */
  viewOpens: number;
  initialLoads: number;
  refetches: number;
  docRefetches: number;
  listRefetches: number;
  bytes: number;
  /** Refetches issued while the same view's previous request, sent in the same millisecond, was in flight
   *  (TanStack cancels it and asks again): requests a per-batch de-duplication would not send. */
  sameTickRepeats: number;
  stale: StaleStats;
  /** The SDK's own counters (rtcache only), summed over panels. */
  sdk?: RealtimeStats;
}

// ---------------------------------------------------------------------------------------------------------
// Ground truth: what the database held at any time, for the views the workload shows.

interface DocVersion {
  ts: number;
  version: number;
  factory: string;
  row: Row;
}
interface ListRev {
  ts: number;
  rev: number;
  ids: string[];
}

export interface View {
  name: string;
  panel: string;
  kind: 'doc' | 'list';
  type: string;
  id?: string;
  key: QueryKey;
  channels: string[];
}

export class Truth {
  readonly docs = new Map<string, DocVersion[]>(); // "type:id" -> by ts
  readonly lists = new Map<string, ListRev[]>(); // "type:factory" -> page-1 revisions by ts

  constructor(private readonly w: Workload) {
    const pageRows = w.meta.listPageRows;
    for (const d of w.meta.initial.docs) this.docs.set(`${d.type}:${d.id}`, [{ ts: -Infinity, version: d.version, factory: d.factory, row: { ...d.row } }]);
    const full = new Map<string, string[]>();
    for (const l of w.meta.initial.lists) {
      const k = `${l.type}:${l.factory}`;
      full.set(k, [...l.ids]);
      this.lists.set(k, [{ ts: -Infinity, rev: 0, ids: l.ids.slice(0, pageRows) }]);
    }
    const touch = (c: Commit, ts: number) => {
      const k = `${c.type}:${c.factory}`;
      const ids = full.get(k);
      if (!ids) return;
      if (c.op === 'create') ids.unshift(...c.ids);
      else if (c.op === 'delete') {
        const i = ids.indexOf(c.id);
        if (i >= 0) ids.splice(i, 1);
      }
      const revs = this.lists.get(k)!;
      const last = revs.at(-1)!;
      const page = ids.slice(0, pageRows);
      if (page.length !== last.ids.length || page.some((x, i) => x !== last.ids[i])) revs.push({ ts, rev: last.rev + 1, ids: page });
    };
    for (const c of w.commits) {
      if (c.op === 'update') {
        const hist = this.docs.get(`${c.type}:${c.id}`);
        if (hist) hist.push({ ts: c.ts, version: c.version, factory: c.factory, row: { ...c.row } });
      } else {
        touch(c, c.ts);
        if (c.op === 'create' && c.version !== undefined && c.row) {
          for (const id of c.ids) this.docs.get(`${c.type}:${id}`)?.push({ ts: c.ts, version: c.version, factory: c.factory, row: { ...c.row } });
        }
      }
    }
  }

  private static at<T extends { ts: number }>(xs: T[], t: number): T {
    let lo = 0;
    let hi = xs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (xs[mid]!.ts <= t) lo = mid;
      else hi = mid - 1;
    }
    return xs[lo]!;
  }

  /** The response body for a doc read at time t. */
  readDoc(type: string, id: string, t: number): Record<string, unknown> {
    const hist = this.docs.get(`${type}:${id}`);
    if (!hist) throw new Error(`bench: no truth for doc ${type}:${id}`);
    const v = Truth.at(hist, t);
    return { id, type, factoryId: v.factory, version: v.version, ...v.row };
  }

  readList(type: string, factory: string, t: number): { rev: number; ids: string[] } {
    const revs = this.lists.get(`${type}:${factory}`);
    if (!revs) throw new Error(`bench: no truth for list ${type}:${factory}`);
    const r = Truth.at(revs, t);
    return { rev: r.rev, ids: r.ids };
  }

  /** The changes a view must come to show: [commit ms, what reflects it]. */
  changesFor(v: View): Array<{ ts: number; reflects: (data: unknown) => boolean; match: (d: Delivery) => boolean }> {
    if (v.kind === 'doc') {
      const hist = this.docs.get(`${v.type}:${v.id}`)!;
      const byVersion = new Map(hist.map((h) => [h.version, h]));
      return hist
        .filter((h) => h.ts !== -Infinity && h.factory === v.panel)
        .map((h) => ({
          ts: h.ts,
          reflects: (data: unknown) => {
            const d = data as Record<string, unknown> | undefined;
            if (!d || typeof d.version !== 'number' || d.version < h.version) return false;
            const truth = byVersion.get(d.version);
            return !!truth && Object.entries(truth.row).every(([c, val]) => d[c] === val);
          },
          match: (x: Delivery) => x.ev.id === v.id && x.ev.type === v.type && x.ev.version === h.version,
        }));
    }
    const revs = this.lists.get(`${v.type}:${v.panel}`)!;
    const iso = (ms: number) => new Date(Date.parse(this.w.meta.epochIso) + ms).toISOString();
    return revs
      .filter((r) => r.ts !== -Infinity)
      .map((r) => {
        const ts = iso(r.ts);
        return {
          ts: r.ts,
          reflects: (data: unknown) => ((data as { rev?: number } | undefined)?.rev ?? -1) >= r.rev,
          match: (x: Delivery) => x.ev.ts === ts && x.ev.type === v.type && x.ev.factoryId === v.panel,
        };
      });
  }
}

export function viewsOf(w: Workload): View[] {
  const out: View[] = [];
  for (const p of w.meta.panels) {
    for (const d of p.docs) {
      out.push({ name: `${p.factory} doc:${d.type}:${d.id}`, panel: p.factory, kind: 'doc', type: d.type, id: d.id, key: ['doc', d.type, d.id], channels: [`doc:${d.type}:${d.id}`, `factory:${p.factory}`] });
    }
    for (const t of p.lists) {
      out.push({ name: `${p.factory} list:${t}:${p.factory}`, panel: p.factory, kind: 'list', type: t, key: ['list', t, p.factory, { page: 1 }], channels: [`list:${t}:${p.factory}`, `factory:${p.factory}`] });
    }
  }
  return out;
}

/** Modelled response size of one doc: 1..3 KiB by default, fixed per (type, id) (FNV-1a). */
export function docBytes(w: Workload, type: string, id: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${type}:${id}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const span = w.meta.docBytesMax - w.meta.docBytesMin + 1;
  return w.meta.docBytesMin + (h % span);
}
export const listPageBytes = (w: Workload): number => w.meta.listEnvelopeBytes + w.meta.listPageRows * w.meta.listRowBytes;

// ---------------------------------------------------------------------------------------------------------
// Strategies: each subscribes the panels' channels and turns what arrives into QueryClient calls.

interface StrategyCtx {
  w: Workload;
  qc: QueryClient;
  clock: VirtualClock;
  realtime: SimRealtime;
  opts: RunOptions;
}
interface Strategy {
  /** Hands one recorded delivery to the strategy's bindings; returns how many handlers it reached. */
  deliver(d: Delivery): number;
  /** The active query of view `v` (a mounted view). Default: a QueryObserver of `v.key` on the shared client. */
  observe?(v: View, queryFn: () => Promise<unknown>): QueryObserver;
  stats?(): RealtimeStats;
  dispose(): Promise<void>;
}

const newClient = () =>
  new QueryClient({
    defaultOptions: { queries: { retry: false, staleTime: Infinity, gcTime: Infinity, refetchOnWindowFocus: false, refetchOnReconnect: false } },
  });

// Anchor 1: what a TanStack app does without a policy: every message invalidates the doc's key and the
// type's list prefix (every page), with the default refetch of active queries. No window, no scope check,
// no version guard.
function perEvent(c: StrategyCtx): Strategy {
  for (const p of c.w.meta.panels) {
    const topics = [...p.docs.map((d) => `doc:${d.type}:${d.id}`), ...p.lists.map((t) => `list:${t}:${p.factory}`), `factory:${p.factory}`];
    for (const topic of topics) {
      c.realtime
        .channel(topic)
        .on('broadcast', { event: 'invalidate' }, (m: { payload: { type: string; id: string; factoryId: string } }) => {
          void c.qc.invalidateQueries({ queryKey: ['doc', m.payload.type, m.payload.id] });
          void c.qc.invalidateQueries({ queryKey: ['list', m.payload.type, m.payload.factoryId] });
        })
        .subscribe();
    }
  }
  return {
    deliver: (d) => c.realtime.joined(d.ch)?.broadcast(d.ev) ?? 0,
    dispose: async () => {},
  };
}

// Anchor 2: the playbook's sample (playbook_sample.ts), one subscribeRealtime per panel.
function playbook(c: StrategyCtx): Strategy {
  const stops = c.w.meta.panels.map((p) =>
    subscribeRealtime(
      { queryClient: c.qc, clock: c.clock },
      {
        supabase: c.realtime,
        factoryId: p.factory,
        views: [...p.docs.map((d) => ({ kind: 'doc' as const, type: d.type, id: d.id })), ...p.lists.map((t) => ({ kind: 'list' as const, type: t }))],
        debounceMs: c.opts.windowMs,
      },
    ),
  );
  return {
    // Summaries carry no row: a factory: channel has no postgres_changes record to give.
    deliver: (d) => (d.ev.id === '*' ? 0 : (c.realtime.joined(d.ch)?.postgresChange(postgresRecordOf(d.ev)) ?? 0)),
    dispose: async () => stops.forEach((s) => s()),
  };
}

// rtcache: the real SDK, one RealtimeCache per panel (its factory is the scope) on the panel's QueryClient,
// each view one realtimeQueryOptions query: its channels are watched while it is observed, and its first
// fetch waits for their joins.
function rtcache(c: StrategyCtx): Strategy {
  const clients = new Map<string, QueryClient>();
  const caches: RealtimeCache[] = c.w.meta.panels.map((p) => {
    const queryClient = newClient();
    clients.set(p.factory, queryClient);
    return createRealtimeCache({ queryClient, realtime: c.realtime, factoryId: p.factory, windowMs: c.opts.windowMs, clock: c.clock, focusManager: null, onlineManager: null });
  });
  return {
    observe: (v, queryFn) => {
      const qc = clients.get(v.panel)!;
      const obs =
        v.kind === 'doc'
          ? new QueryObserver(qc, realtimeQueryOptions({ doc: [v.type, v.id!], queryFn }))
          : new QueryObserver(qc, realtimeQueryOptions({ list: [v.type, v.panel], queryFn }));
      return obs as unknown as QueryObserver;
    },
    deliver: (d) => c.realtime.joined(d.ch)?.broadcast(d.ev) ?? 0,
    stats: () => {
      const s = caches.map((x) => x.stats());
      const sum = (f: (x: RealtimeStats) => number) => s.reduce((a, x) => a + f(x), 0);
      return {
        received: sum((x) => x.received),
        dropped: {
          scope: sum((x) => x.dropped.scope),
          stale: sum((x) => x.dropped.stale),
          notCached: sum((x) => x.dropped.notCached),
          invalid: sum((x) => x.dropped.invalid),
          duplicate: sum((x) => x.dropped.duplicate),
        },
        invalidated: sum((x) => x.invalidated),
        patched: sum((x) => x.patched),
        listRefetches: sum((x) => x.listRefetches),
        resyncs: sum((x) => x.resyncs),
        recoveries: sum((x) => x.recoveries),
        catchUps: sum((x) => x.catchUps),
        batches: sum((x) => x.batches),
      };
    },
    dispose: async () => {
      await Promise.all(caches.map((x) => x.dispose()));
      for (const qc of clients.values()) qc.clear();
    },
  };
}

const BUILDERS: Record<StrategyName, (c: StrategyCtx) => Strategy> = { 'per-event': perEvent, playbook, rtcache };

// ---------------------------------------------------------------------------------------------------------

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Replays `w` against one strategy. Deterministic: the same workload and options give the same result. */
export async function runStrategy(w: Workload, name: StrategyName, opts: RunOptions = DEFAULT_RUN): Promise<StrategyResult> {
  const clock = new VirtualClock();
  const release = useVirtualTime(clock);
  const truth = new Truth(w);
  const views = viewsOf(w);
  const qc = newClient();
  let calls = 0;
  let docCalls = 0;
  let bytes = 0;
  let repeats = 0;
  const lastCall = new Map<View, number>();
  const called = (v: View) => {
    calls++;
    if (lastCall.get(v) === clock.now()) repeats++;
    lastCall.set(v, clock.now());
  };
  const respond = <T>(read: () => T): Promise<T> =>
    new Promise<T>((resolve) => {
      let body: T;
      clock.setTimeout(() => (body = read()), opts.rttMs / 2);
      clock.setTimeout(() => resolve(body), opts.rttMs);
    });
  const snapshots = new Map<View, Array<{ t: number; data: unknown }>>();
  const unsubscribes: Array<() => void> = [];
  let strategy: Strategy | undefined;
  let events = 0;
  try {
    // Channels answer their joins one round trip after they are asked (the gate waits for that).
    strategy = BUILDERS[name]({ w, qc, clock, realtime: new SimRealtime(clock, opts.rttMs), opts });
    for (const v of views) {
      const queryFn =
        v.kind === 'doc'
          ? () => {
              called(v);
              docCalls++;
              bytes += docBytes(w, v.type, v.id!);
              return respond(() => truth.readDoc(v.type, v.id!, clock.now()));
            }
          : () => {
              called(v);
              bytes += listPageBytes(w);
              return respond(() => truth.readList(v.type, v.panel, clock.now()));
            };
      const obs = strategy.observe ? strategy.observe(v, queryFn) : new QueryObserver(qc, { queryKey: v.key, queryFn });
      const seen: Array<{ t: number; data: unknown }> = [];
      snapshots.set(v, seen);
      unsubscribes.push(
        obs.subscribe((r) => {
          if (r.data !== undefined && r.data !== seen.at(-1)?.data) seen.push({ t: clock.now(), data: r.data });
        }),
      );
    }
    const first = w.deliveries[0]?.at ?? w.meta.endMs;
    await clock.runUntil(Math.min(first, 1000) - 1);
    const initialCalls = calls;
    const initialBytes = bytes;
    const initialDocCalls = docCalls;
    const initialRepeats = repeats;
    if (views.some((v) => !snapshots.get(v)!.length)) throw new Error('bench: a view did not load before the first event');

    let i = 0;
    while (i < w.deliveries.length) {
      const t = w.deliveries[i]!.at;
      await clock.runUntil(t);
      for (; i < w.deliveries.length && w.deliveries[i]!.at === t; i++) events += strategy.deliver(w.deliveries[i]!);
    }
    await clock.runUntil(w.meta.endMs);

    const result: StrategyResult = {
      strategy: name,
      events,
      viewOpens: views.length,
      initialLoads: initialCalls,
      refetches: calls - initialCalls,
      docRefetches: docCalls - initialDocCalls,
      listRefetches: calls - initialCalls - (docCalls - initialDocCalls),
      bytes: bytes - initialBytes,
      sameTickRepeats: repeats - initialRepeats,
      stale: staleness(w, truth, views, snapshots, w.meta.endMs),
    };
    if (strategy.stats) result.sdk = strategy.stats();
    return result;
  } finally {
    for (const u of unsubscribes) u();
    await strategy?.dispose();
    qc.clear();
    release();
  }
}

function staleness(w: Workload, truth: Truth, views: View[], snaps: Map<View, Array<{ t: number; data: unknown }>>, endMs: number): StaleStats {
  const fromCommit: number[] = [];
  const fromDelivery: number[] = [];
  let unreflected = 0;
  let worst: StaleStats['worst'];
  for (const v of views) {
    const seen = snaps.get(v)!;
    const mine = w.deliveries.filter((d) => v.channels.includes(d.ch));
    for (const c of truth.changesFor(v)) {
      const hit = seen.find((s) => s.t >= c.ts && c.reflects(s.data));
      if (!hit) {
        unreflected++;
        fromCommit.push(endMs - c.ts);
        continue;
      }
      fromCommit.push(hit.t - c.ts);
      const first = mine.find((d) => c.match(d));
      if (first) {
        const lag = Math.max(0, hit.t - first.at);
        fromDelivery.push(lag);
        if (!worst || lag > worst.reflectedMs - worst.deliveredMs) worst = { view: v.name, commitMs: c.ts, deliveredMs: first.at, reflectedMs: hit.t };
      }
    }
  }
  fromCommit.sort((a, b) => a - b);
  fromDelivery.sort((a, b) => a - b);
  const out: StaleStats = {
    changes: fromCommit.length,
    unreflected,
    p50Ms: percentile(fromCommit, 50),
    p99Ms: percentile(fromCommit, 99),
    maxMs: fromCommit.at(-1) ?? 0,
    maxSinceDeliveryMs: fromDelivery.at(-1) ?? 0,
    p99SinceDeliveryMs: percentile(fromDelivery, 99),
  };
  if (worst) out.worst = worst;
  return out;
}
