// createRealtimeCache: the SDK's I/O shell. Channels in (transport.ts), events validated (event.ts),
// coalesced (coalescer.ts), planned (planner.ts) and applied to the QueryClient (apply.ts); views and their
// join gate (views.ts) decide when a view's data may be fetched. Time is injected, so tests drive the window
// and the gate with a manual clock and never sleep.
import { focusManager as queryFocusManager, notifyManager, onlineManager as queryOnlineManager } from '@tanstack/query-core';
import type { Query, QueryCacheNotifyEvent, QueryClient } from '@tanstack/query-core';
import { channels, parseChannelKey } from './channel_keys.js';
import { Coalescer, clampWindow, isEmptyBatch, type Batch } from './coalescer.js';
import { DocTypeRegistry } from './doc_types.js';
import { EventDecoder, type RtEvent } from './event.js';
import { keys } from './keys.js';
import { planBatch, type Operation } from './planner.js';
import { QueryClientApplier, SettledRefetcher, isInfiniteQuery, isListHead, queryClientView, type ApplyCounters } from './apply.js';
import { attachGateHost, detachGateHost, viewMetaOf, type GateHost } from './query_options.js';
import { FactoryScope } from './scope.js';
import { ChannelPool, realtimeOf, type RealtimeSource, type ResumePosition } from './transport.js';
import { View, Views, type ViewSpec } from './views.js';

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
  /** duplicate: events whose offset their channel had already delivered (not counted in `received`). */
  dropped: { scope: number; stale: number; notCached: number; invalid: number; duplicate: number };
  invalidated: number;
  patched: number;
  listRefetches: number;
  resyncs: number;
  /** Refetches done because a rejoin could not replay the missed events. */
  recoveries: number;
  /** Views fetched once more because their data predated their channels (the join gate ran out, or the
   *  data or fetch was there before the view opened). */
  catchUps: number;
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

/** query-core's focusManager / onlineManager, or anything with the same subscribe (tests, custom hosts). */
export interface ManagerLike {
  subscribe(listener: (state: boolean) => void): () => void;
}

/** The default wait of a view's first fetch for its channels (the C++ SDK's engine_config::first_fetch_wait). */
export const DEFAULT_FIRST_FETCH_WAIT_MS = 500;
// A recovery waits for every rejoin of a reconnect to answer (one refetch per query, not one per channel),
// but never longer than this after the first channel reported its loss.
const MAX_RECOVERY_HOLD_MS = 10_000;

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
  /** How long a view's first fetch waits for its channels' join replies, in ms (default 500). */
  firstFetchWait?: number;
  /** Pending events are applied when the app regains focus: query-core's focusManager by default; null: never. */
  focusManager?: ManagerLike | null;
  /** ... and when the host comes back online: query-core's onlineManager by default; null: never. */
  onlineManager?: ManagerLike | null;
}

export interface RealtimeCache {
  /** Joins doc:<type>:<id> and factory:<factoryId>; returns a disposer (idempotent) that flushes the view's
   *  pending events and leaves. */
  watchDoc(type: string, id: string): () => void;
  /** Joins list:<type>:<factoryId> and factory:<factoryId>; returns a disposer (idempotent). */
  watchList(type: string): () => void;
  /** Resubscribes every watch to the new scope and drops pending events. */
  setFactory(factoryId: string): void;
  /** Pushes the access token; resubscribes channels the server refused or closed. */
  setAuth(token: string | null): Promise<void>;
  /** Applies pending coalesced events now (flushOnNavigate calls it before a route change). */
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
  /** The default wait of a view's first fetch for its channels. */
  readonly firstFetchWait: number;
  /** Removes every channel and listener it added. Later calls to watch* do nothing. */
  dispose(): Promise<void>;
}

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
  const firstFetchWait = options.firstFetchWait ?? DEFAULT_FIRST_FETCH_WAIT_MS;
  if (!Number.isFinite(firstFetchWait) || firstFetchWait < 0) throw new RangeError('firstFetchWait must be a number of ms >= 0');
  let factoryId = options.factoryId;
  let scope = FactoryScope.of([factoryId]);
  const coalescer = new Coalescer({ windowMs: clampWindow(options.windowMs), maxPending: options.maxPending });

  const counters: ApplyCounters & { received: number; invalid: number; duplicate: number; catchUps: number; batches: number } = {
    received: 0,
    invalid: 0,
    duplicate: 0,
    catchUps: 0,
    batches: 0,
    invalidated: 0,
    patched: 0,
    listRefetches: 0,
    resyncs: 0,
    recoveries: 0,
    dropped: { scope: 0, stale: 0, notCached: 0 },
  };
  let lastEventAt: number | undefined;
  let disposed = false;

  // ---- Views and their gate; every refetch goes through one after-the-fetch-settles path.
  const views = new Views({
    now: () => clock.now(),
    isJoined: (t) => pool.isJoined(t),
    catchUp: (caught) => {
      const targets = new Set<Query>();
      for (const v of caught) {
        counters.catchUps++;
        if (v.query) targets.add(v.query);
        else for (const q of qc.getQueryCache().getAll()) if (shows(v, q)) targets.add(q);
      }
      notifyManager.batch(() => {
        for (const q of targets) refetcher.refetch(q, isInfiniteQuery(q));
      });
    },
  });
  const refetcher = new SettledRefetcher(qc, (q) => views.isHeld(q));
  const applier = new QueryClientApplier(qc, counters, refetcher);

  // Whether query q is what a watchDoc/watchList view shows.
  const shows = (v: View, q: Query): boolean => {
    const s = v.spec;
    if (s.kind === 'doc') return q.queryKey[0] === 'doc' && q.queryKey[1] === s.type && q.queryKey[2] === s.id && q.queryKey.length === 3;
    return isListHead(q, s.type, s.factoryId ?? factoryId);
  };

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

  // ---- Recovery: topics whose rejoin could not replay; one refetch of what they show, deduplicated, once
  // every rejoin of the reconnect has answered.
  const lostTopics = new Set<string>();
  let lostSince: number | null = null;
  const recoveryOps = (): Operation[] => {
    const ops = new Map<string, Operation>();
    const head = (type: string, f: string) => ops.set(`list:${type}:${f}`, { op: 'refetch_list_head', key: keys.listHeads(type, f) });
    for (const topic of lostTopics) {
      const k = parseChannelKey(topic, registry);
      if (!k.ok) continue;
      if (k.value.kind === 'doc') {
        ops.set(topic, { op: 'invalidate', key: keys.doc(k.value.type, k.value.id), afterFetch: false });
      } else if (k.value.kind === 'list') {
        head(k.value.type, k.value.factoryId);
      } else {
        // A missed summary changes lists: the heads of every list view in that factory.
        for (const v of views.all()) {
          if (v.spec.kind === 'list' && (v.spec.factoryId ?? factoryId) === k.value.factoryId) head(v.spec.type, k.value.factoryId);
        }
      }
    }
    lostTopics.clear();
    lostSince = null;
    return [...ops.values()];
  };
  const recoveryDue = (now: number): boolean =>
    lostSince !== null && now >= lostSince + coalescer.windowMs && (!pool.rejoining() || now >= lostSince + MAX_RECOVERY_HOLD_MS);

  // ---- The timer: the coalescing window, the recovery, the views' waits.
  let timer: unknown = null;
  let timerAt: number | null = null;
  const nextDue = (): number | null => {
    let due = coalescer.deadline();
    const consider = (t: number | null) => {
      if (t !== null && (due === null || t < due)) due = t;
    };
    if (lostSince !== null) {
      const earliest = lostSince + coalescer.windowMs;
      // While rejoins are pending the recovery waits for them (a join reply re-arms); the hold is bounded.
      consider(pool.rejoining() && clock.now() >= earliest ? lostSince + MAX_RECOVERY_HOLD_MS : earliest);
    }
    consider(views.nextDeadline());
    return due;
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

  /** Plans `batch` and applies it together with `recovery`: one refetch per query for both. */
  const applyBatch = (batch: Batch, recovery: Operation[] = []) => {
    const empty = isEmptyBatch(batch);
    if (empty && recovery.length === 0) return;
    notifyManager.batch(() => {
      const ops = empty ? [] : planBatch(batch, scope, queryClientView(qc));
      if (!empty) counters.batches++;
      applier.apply(ops, recovery);
    });
    statusChanged();
  };
  function onTimer() {
    timer = null;
    timerAt = null;
    if (disposed) return;
    const now = clock.now();
    views.update();
    applyBatch(coalescer.takeDue(now), recoveryDue(now) ? recoveryOps() : []);
    arm();
  }

  // ---- Transport.
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
    duplicate() {
      counters.duplicate++;
    },
    lost(topic) {
      if (disposed) return;
      lostTopics.add(topic);
      lostSince ??= clock.now();
      arm();
    },
    changed() {
      if (disposed) return;
      views.update();
      // A join reply may be the last one a recovery was waiting for.
      if (recoveryDue(clock.now())) applyBatch({ events: [], resync: false, absorbed: 0 }, recoveryOps());
      statusChanged();
      arm();
    },
  });

  const topicsOf = (spec: ViewSpec): string[] =>
    spec.kind === 'doc'
      ? [channels.doc(spec.type, spec.id), channels.factory(factoryId)]
      : [channels.list(spec.type, spec.factoryId ?? factoryId), channels.factory(spec.factoryId ?? factoryId)];

  // The events a view shows: flushed when the view is left, so the next screen sees them at once.
  const eventsOf = (spec: ViewSpec) => (e: RtEvent) =>
    spec.kind === 'doc' ? e.type === spec.type && e.id === spec.id : e.type === spec.type && e.factoryId === (spec.factoryId ?? factoryId);

  const openView = (view: View, early: boolean): View => {
    view.topics = topicsOf(view.spec);
    for (const t of view.topics) pool.acquire(t);
    views.open(view, early);
    statusChanged();
    arm();
    return view;
  };
  const closeView = (view: View) => {
    // A first fetch still waiting for the joins is dropped with the view: back to the state before it.
    if (view.query && views.isHeld(view.query)) void view.query.cancel({ revert: true });
    views.close(view);
    if (!disposed) applyBatch(coalescer.take(eventsOf(view.spec)));
    for (const t of view.topics) pool.release(t);
    arm();
  };

  // ---- Views opened by realtimeQueryOptions: a query with meta.rtcache, while it has observers.
  const specOf = (q: Query): { spec: ViewSpec; waitMs: number; gate: boolean } | null => {
    const m = viewMetaOf(q);
    if (!m) return null;
    const spec: ViewSpec = 'doc' in m ? { kind: 'doc', type: m.doc[0], id: m.doc[1] } : { kind: 'list', type: m.list[0], factoryId: m.list[1] };
    const check = spec.kind === 'doc' ? channels.doc(spec.type, spec.id) : channels.list(spec.type, spec.factoryId!);
    const k = parseChannelKey(check, registry);
    if (!k.ok) {
      options.onError?.({ code: k.error.code, message: `realtime view ${JSON.stringify(q.queryKey)}: ${k.error.message}`, payload: q.queryKey });
      return null;
    }
    return { spec, waitMs: m.firstFetchWait ?? firstFetchWait, gate: m.gate !== false };
  };
  const closing = new Set<View>(); // views whose last observer left this tick
  const openQueryView = (q: Query) => {
    const existing = views.ofQuery(q);
    if (existing) {
      closing.delete(existing); // unmounted and mounted again at once (StrictMode, a key kept): the same view
      return;
    }
    if (disposed) return;
    const s = specOf(q);
    if (!s) return;
    const early = q.state.data !== undefined || q.state.fetchStatus !== 'idle';
    openView(new View(s.spec, q, s.waitMs, s.gate), early);
  };
  const gateHost: GateHost = { hold: (q) => (disposed ? null : views.hold(q)) };
  const ownsViews = attachGateHost(qc, gateHost);
  const onCacheEvent = (ev: QueryCacheNotifyEvent) => {
    if (disposed) return;
    if (ev.type === 'observerAdded') {
      if (ownsViews && ev.query.getObserversCount() === 1) openQueryView(ev.query);
    } else if (ev.type === 'removed') {
      const v = views.ofQuery(ev.query);
      if (v) closeView(v);
    } else if (ev.type === 'observerRemoved') {
      const v = views.ofQuery(ev.query);
      if (!v || ev.query.getObserversCount() > 0) return;
      // Closed a microtask later, as channels are left: a view mounted again at once keeps its gate, its held
      // fetch and its channels instead of fetching twice.
      closing.add(v);
      queueMicrotask(() => {
        if (closing.delete(v) && !disposed && views.ofQuery(ev.query) === v) closeView(v);
      });
    } else if (ev.type === 'updated' && ev.action.type === 'fetch') {
      views.fetchStarted(ev.query, shows);
    }
  };
  const unsubscribeCache = qc.getQueryCache().subscribe(onCacheEvent);
  if (ownsViews) for (const q of qc.getQueryCache().getAll()) if (q.getObserversCount() > 0) openQueryView(q);

  // ---- watchDoc / watchList (the two-call API): a view matched by key; its fetch is the app's, so data or
  // a fetch from before its channels are live is fetched once more when they are.
  const watch = (spec: ViewSpec): (() => void) => {
    if (disposed) return () => {};
    const view = new View(spec, null, 0, true);
    const early = qc.getQueryCache().getAll().some((q) => shows(view, q) && (q.state.data !== undefined || q.state.fetchStatus !== 'idle'));
    openView(view, early);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      closeView(view);
    };
  };

  // ---- Focus and connectivity regained: apply what is pending now.
  const onRegained = (state: boolean) => {
    if (state) api.flush();
  };
  const focus = options.focusManager === undefined ? queryFocusManager : options.focusManager;
  const online = options.onlineManager === undefined ? queryOnlineManager : options.onlineManager;
  const unsubscribeFocus = focus?.subscribe(onRegained);
  const unsubscribeOnline = online?.subscribe(onRegained);

  const api: RealtimeCache = {
    windowMs: coalescer.windowMs,
    firstFetchWait,
    watchDoc(type, id) {
      const k = parseChannelKey(channels.doc(type, id), registry);
      if (!k.ok) throw new TypeError(`watchDoc: ${k.error.message}`);
      return watch({ kind: 'doc', type, id });
    },
    watchList(type) {
      const k = parseChannelKey(channels.list(type, factoryId), registry);
      if (!k.ok) throw new TypeError(`watchList: ${k.error.message}`);
      return watch({ kind: 'list', type });
    },
    setFactory(next) {
      if (disposed || next === factoryId) return;
      checkFactory(next);
      // Events of the old scope are dropped, not applied to the new one.
      const pending = coalescer.flush();
      counters.dropped.scope += pending.events.length + pending.absorbed + (pending.resync ? 1 : 0);
      lostTopics.clear();
      lostSince = null;
      factoryId = next;
      scope = FactoryScope.of([next]);
      for (const v of views.all()) {
        const old = v.topics;
        v.topics = topicsOf(v.spec);
        for (const t of v.topics) pool.acquire(t); // acquire first: a topic in both keeps its channel
        for (const t of old) pool.release(t);
      }
      statusChanged();
      arm();
    },
    async setAuth(token) {
      if (disposed) return;
      await realtime.setAuth(token);
      await pool.resubscribeRefused();
    },
    flush() {
      if (disposed) return;
      views.update();
      applyBatch(coalescer.flush(), lostTopics.size > 0 ? recoveryOps() : []);
      arm();
    },
    stats() {
      return {
        received: counters.received,
        dropped: { ...counters.dropped, invalid: counters.invalid, duplicate: counters.duplicate },
        invalidated: counters.invalidated,
        patched: counters.patched,
        listRefetches: counters.listRefetches,
        resyncs: counters.resyncs,
        recoveries: counters.recoveries,
        catchUps: counters.catchUps,
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
      unsubscribeFocus?.();
      unsubscribeOnline?.();
      unsubscribeCache();
      detachGateHost(qc, gateHost);
      refetcher.dispose();
      views.clear();
      statusListeners.clear();
      await pool.close();
    },
  };
  return api;
}
