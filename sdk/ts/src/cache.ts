// createRealtimeCache: the SDK's I/O shell. Channels in (transport.ts), events validated (event.ts),
// coalesced (coalescer.ts), planned (planner.ts) and applied to the QueryClient (apply.ts). Time and the
// document are injected, so tests drive the window with a manual clock and never sleep.
import type { QueryClient, QueryKey } from '@tanstack/query-core';
import { channels, parseChannelKey } from './channel_keys.js';
import { Coalescer, clampWindow, isEmptyBatch } from './coalescer.js';
import { DocTypeRegistry } from './doc_types.js';
import { EventDecoder, type RtEvent } from './event.js';
import { keys } from './keys.js';
import { planBatch, type Operation } from './planner.js';
import { QueryClientApplier, queryClientView, type ApplyCounters } from './apply.js';
import { FactoryScope } from './scope.js';
import { ChannelPool, realtimeOf, type RealtimeSource, type ResumePosition } from './transport.js';

/** The connection state a status indicator shows. */
export interface RealtimeStatus {
  /** Every channel the cache holds is joined (false while it holds none). */
  connected: boolean;
  /** Channels held. */
  channels: number;
  /** When the last event arrived (clock milliseconds). */
  lastEventAt?: number;
  /** Whether the last rejoin replayed what was missed (absent until a rejoin happened). */
  recovered?: boolean;
}

export interface RealtimeStats {
  received: number;
  dropped: { scope: number; stale: number; notCached: number; invalid: number };
  invalidated: number;
  patched: number;
  listRefetches: number;
  resyncs: number;
  /** Refetches done because a rejoin could not replay the missed events. */
  recoveries: number;
  /** Non-empty batches applied. */
  batches: number;
}

/** Time, injected: tests pass a manual clock; the default is Date.now and the global timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The part of `document` the cache uses to flush when the tab becomes visible again. */
export interface VisibilitySource {
  visibilityState: string;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

export interface RealtimeCacheOptions {
  queryClient: QueryClient;
  /** supabase.realtime (a RealtimeClient), or a SupabaseClient. */
  realtime: RealtimeSource;
  /** The current factory scope. */
  factoryId: string;
  /** Coalescing window, clamped to 250..500 ms (default 300). */
  windowMs?: number;
  onStatus?: (s: RealtimeStatus) => void;
  /** Registered doc types (default: the playbook's wo pl dn grn lot pu invoice price_list). */
  docTypes?: readonly string[];
  /** Distinct (type, id, action) keys per window before the batch degrades to one resync (default 1024). */
  maxPending?: number;
  /** Called with every refused payload (it is dropped and counted as `dropped.invalid`). */
  onError?: (error: { code: string; message: string; payload: unknown }) => void;
  clock?: Clock;
  /** The document whose `visibilitychange` flushes; default globalThis.document when it exists; null: none. */
  visibility?: VisibilitySource | null;
}

export interface RealtimeCache {
  /** Joins doc:<type>:<id> and factory:<factoryId>; returns a disposer (idempotent). */
  watchDoc(type: string, id: string): () => void;
  /** Joins list:<type>:<factoryId> and factory:<factoryId>; returns a disposer (idempotent). */
  watchList(type: string): () => void;
  /** Resubscribes every watch to the new scope and drops pending events. */
  setFactory(factoryId: string): void;
  /** Pushes the access token; resubscribes channels the server refused or closed. */
  setAuth(token: string | null): Promise<void>;
  /** Applies pending coalesced events now (call before a route change). */
  flush(): void;
  stats(): RealtimeStats;
  status(): RealtimeStatus;
  /** Live status for hooks: the listener is called on every change; returns an unsubscribe. */
  subscribeStatus(listener: (s: RealtimeStatus) => void): () => void;
  /** The current scope. */
  factoryId(): string;
  /** The channels held now, and the resume position of one (for diagnostics and tests). */
  topics(): string[];
  position(topic: string): ResumePosition | undefined;
  /** The effective (clamped) coalescing window. */
  readonly windowMs: number;
  /** Removes every channel and listener it added. Later calls to watch* do nothing. */
  dispose(): Promise<void>;
}

type Watch = { kind: 'doc'; type: string; id: string; topics: string[] } | { kind: 'list'; type: string; topics: string[] };

export function createRealtimeCache(options: RealtimeCacheOptions): RealtimeCache {
  const qc = options.queryClient;
  const clock = options.clock ?? systemClock;
  const realtime = realtimeOf(options.realtime);
  const types = options.docTypes ? DocTypeRegistry.from(options.docTypes) : { ok: true as const, value: DocTypeRegistry.defaults() };
  if (!types.ok) throw new TypeError(`docTypes: ${types.error.message}`);
  const registry = types.value;
  const decoder = new EventDecoder(registry);
  const checkFactory = (f: string) => {
    const k = parseChannelKey(channels.factory(f), registry);
    if (!k.ok) throw new TypeError(`factoryId: ${k.error.message}`);
  };
  checkFactory(options.factoryId);
  let factoryId = options.factoryId;
  let scope = FactoryScope.of([factoryId]);
  const coalescer = new Coalescer({ windowMs: clampWindow(options.windowMs), maxPending: options.maxPending });

  const counters: ApplyCounters & { received: number; invalid: number; recoveries: number; batches: number } = {
    received: 0,
    invalid: 0,
    recoveries: 0,
    batches: 0,
    invalidated: 0,
    patched: 0,
    listRefetches: 0,
    resyncs: 0,
    dropped: { scope: 0, stale: 0, notCached: 0 },
  };
  let lastEventAt: number | undefined;
  let disposed = false;

  // ---- TanStack#8530: invalidations that wait for an in-flight fetch to settle.
  const afterFetch = new Map<string, QueryKey>();
  let unsubscribeCache: (() => void) | null = null;
  const applier = new QueryClientApplier(qc, counters, (key) => {
    const q = qc.getQueryCache().find({ queryKey: key, exact: true });
    if (!q || q.state.fetchStatus === 'idle') {
      applier.invalidateDoc(key);
      return;
    }
    afterFetch.set(q.queryHash, key);
    unsubscribeCache ??= qc.getQueryCache().subscribe((ev) => {
      if (ev.type !== 'updated' && ev.type !== 'removed') return;
      const key2 = afterFetch.get(ev.query.queryHash);
      if (!key2) return;
      if (ev.type === 'removed') afterFetch.delete(ev.query.queryHash);
      else if (ev.query.state.fetchStatus === 'idle') {
        afterFetch.delete(ev.query.queryHash);
        applier.invalidateDoc(key2);
      }
      if (afterFetch.size === 0 && unsubscribeCache) {
        unsubscribeCache();
        unsubscribeCache = null;
      }
    });
  });

  // ---- Status.
  const statusListeners = new Set<(s: RealtimeStatus) => void>();
  let lastStatus: RealtimeStatus = { connected: false, channels: 0 };
  const computeStatus = (): RealtimeStatus => {
    const snap = pool.snapshot();
    const s: RealtimeStatus = { connected: snap.channels > 0 && snap.joined === snap.channels, channels: snap.channels };
    if (lastEventAt !== undefined) s.lastEventAt = lastEventAt;
    if (snap.recovered !== undefined) s.recovered = snap.recovered;
    return s;
  };
  const statusChanged = () => {
    if (disposed) return;
    const s = computeStatus();
    if (
      s.connected === lastStatus.connected &&
      s.channels === lastStatus.channels &&
      s.lastEventAt === lastStatus.lastEventAt &&
      s.recovered === lastStatus.recovered
    ) {
      return;
    }
    lastStatus = s;
    options.onStatus?.(s);
    for (const l of [...statusListeners]) l(s);
  };

  // ---- Recovery: topics whose rejoin could not replay; one refetch of what they show, deduplicated.
  const lostTopics = new Set<string>();
  const recoveryOps = (): Operation[] => {
    const ops = new Map<string, Operation>();
    for (const topic of lostTopics) {
      const k = parseChannelKey(topic, registry);
      if (!k.ok) continue;
      if (k.value.kind === 'doc') {
        ops.set(topic, { op: 'invalidate', key: keys.doc(k.value.type, k.value.id), afterFetch: false });
      } else if (k.value.kind === 'list') {
        ops.set(`list:${k.value.type}:${k.value.factoryId}`, { op: 'refetch_list_head', key: keys.listHeads(k.value.type, k.value.factoryId) });
      } else {
        // A missed summary changes lists: the heads of every list this cache watches in that factory.
        for (const w of watches) {
          if (w.kind === 'list' && k.value.factoryId === factoryId) {
            ops.set(`list:${w.type}:${factoryId}`, { op: 'refetch_list_head', key: keys.listHeads(w.type, factoryId) });
          }
        }
      }
    }
    lostTopics.clear();
    return [...ops.values()];
  };

  // ---- The window timer.
  let timer: unknown = null;
  let timerAt: number | null = null;
  let recoveryDue: number | null = null;
  const nextDue = (): number | null => {
    const d = coalescer.deadline();
    if (d === null) return recoveryDue;
    return recoveryDue === null ? d : Math.min(d, recoveryDue);
  };
  const arm = () => {
    if (disposed) return;
    const due = nextDue();
    if (due === null) {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      timerAt = null;
      return;
    }
    if (timer !== null && timerAt === due) return;
    if (timer !== null) clock.clearTimeout(timer);
    timerAt = due;
    timer = clock.setTimeout(onTimer, Math.max(0, due - clock.now()));
  };
  const runRecovery = () => {
    recoveryDue = null;
    const ops = recoveryOps();
    if (ops.length === 0) return;
    // Counted as recoveries, not as event-driven invalidations or list refetches.
    counters.recoveries += ops.length;
    for (const op of ops) {
      if (op.op === 'invalidate') applier.invalidateDoc(op.key);
      else if (op.op === 'refetch_list_head') applier.refetchListHead(op.key[1], op.key[2]);
    }
  };
  const applyBatch = (batch: ReturnType<Coalescer['flush']>) => {
    if (isEmptyBatch(batch)) return;
    counters.batches++;
    applier.apply(planBatch(batch, scope, queryClientView(qc)));
    statusChanged();
  };
  function onTimer() {
    timer = null;
    timerAt = null;
    if (disposed) return;
    const now = clock.now();
    applyBatch(coalescer.takeDue(now));
    if (recoveryDue !== null && now >= recoveryDue) runRecovery();
    arm();
  }

  // ---- Transport.
  const watches = new Set<Watch>();
  const pool = new ChannelPool(realtime, {
    message(_topic, payload) {
      if (disposed) return;
      const r = decoder.validate(payload);
      if (!r.ok) {
        counters.invalid++;
        options.onError?.({ code: r.error.code, message: r.error.message, payload });
        return;
      }
      counters.received++;
      lastEventAt = clock.now();
      coalescer.offer(r.value as RtEvent, lastEventAt);
      arm(); // lastEventAt reaches the status when the batch is applied: one status update per window
    },
    lost(topic) {
      if (disposed) return;
      lostTopics.add(topic);
      if (recoveryDue === null) recoveryDue = clock.now() + coalescer.windowMs;
      arm();
    },
    changed: () => statusChanged(),
  });

  const topicsOf = (w: Watch): string[] =>
    w.kind === 'doc' ? [channels.doc(w.type, w.id), channels.factory(factoryId)] : [channels.list(w.type, factoryId), channels.factory(factoryId)];

  const watch = (w: Watch): (() => void) => {
    if (disposed) return () => {};
    w.topics = topicsOf(w);
    watches.add(w);
    for (const t of w.topics) pool.acquire(t);
    statusChanged();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (!watches.delete(w)) return;
      for (const t of w.topics) pool.release(t);
    };
  };

  // ---- visibilitychange: flush when the tab is visible again.
  const visibility =
    options.visibility === undefined
      ? ((globalThis as { document?: VisibilitySource }).document ?? null)
      : options.visibility;
  const onVisibility = () => {
    if (visibility?.visibilityState === 'visible') api.flush();
  };
  visibility?.addEventListener('visibilitychange', onVisibility);

  const api: RealtimeCache = {
    windowMs: coalescer.windowMs,
    watchDoc(type, id) {
      const k = parseChannelKey(channels.doc(type, id), registry);
      if (!k.ok) throw new TypeError(`watchDoc: ${k.error.message}`);
      return watch({ kind: 'doc', type, id, topics: [] });
    },
    watchList(type) {
      const k = parseChannelKey(channels.list(type, factoryId), registry);
      if (!k.ok) throw new TypeError(`watchList: ${k.error.message}`);
      return watch({ kind: 'list', type, topics: [] });
    },
    setFactory(next) {
      if (disposed || next === factoryId) return;
      checkFactory(next);
      // Events of the old scope are dropped, not applied to the new one.
      const pending = coalescer.flush();
      counters.dropped.scope += pending.events.length + pending.absorbed + (pending.resync ? 1 : 0);
      lostTopics.clear();
      recoveryDue = null;
      arm();
      factoryId = next;
      scope = FactoryScope.of([next]);
      for (const w of watches) {
        const old = w.topics;
        w.topics = topicsOf(w);
        for (const t of w.topics) pool.acquire(t); // acquire first: a topic in both keeps its channel
        for (const t of old) pool.release(t);
      }
      statusChanged();
    },
    async setAuth(token) {
      if (disposed) return;
      await realtime.setAuth(token);
      await pool.resubscribeRefused();
    },
    flush() {
      if (disposed) return;
      applyBatch(coalescer.flush());
      if (lostTopics.size > 0) runRecovery();
      arm();
    },
    stats() {
      return {
        received: counters.received,
        dropped: { ...counters.dropped, invalid: counters.invalid },
        invalidated: counters.invalidated,
        patched: counters.patched,
        listRefetches: counters.listRefetches,
        resyncs: counters.resyncs,
        recoveries: counters.recoveries,
        batches: counters.batches,
      };
    },
    // The same object until something changes (useSyncExternalStore compares snapshots by identity).
    status: () => lastStatus,
    subscribeStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    factoryId: () => factoryId,
    topics: () => pool.topics(),
    position: (topic) => pool.position(topic),
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      visibility?.removeEventListener('visibilitychange', onVisibility);
      unsubscribeCache?.();
      unsubscribeCache = null;
      afterFetch.clear();
      watches.clear();
      statusListeners.clear();
      await pool.close();
    },
  };
  return api;
}
