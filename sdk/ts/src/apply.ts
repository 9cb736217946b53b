// Runs planned operations against a @tanstack/query-core QueryClient, and reads the QueryClient as the
// planner's CacheView. Every operation that refetches (a doc invalidation, a list-head refetch, a recovery,
// a resync, a view's catch-up) goes through one path, SettledRefetcher: a query with a fetch in flight is
// refetched once that fetch settles, never merged into it (TanStack/query#8530: query-core hands an
// invalidation of a query that has no data yet to the fetch in flight, whose result may predate the change).
// Refetches are `refetchType: 'active'`: an inactive query is only marked stale and refetches when a view
// shows it again.
import type { Query, QueryClient, QueryKey } from '@tanstack/query-core';
import { patchValues } from './event.js';
import { keys } from './keys.js';
import type { CachedDocState, CacheView, Operation } from './planner.js';

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Infinite query data: { pages: [...], pageParams: [...] }. */
export const isInfiniteData = (v: unknown): v is { pages: unknown[]; pageParams: unknown[] } =>
  isPlainObject(v) && Array.isArray(v.pages) && Array.isArray(v.pageParams);

/** An infinite query: its data has pages, or (before its first page arrives) its options say so. */
export const isInfiniteQuery = (q: Query): boolean =>
  isInfiniteData(q.state.data) || typeof (q.options as { getNextPageParam?: unknown }).getNextPageParam === 'function';

/** The planner's view of a QueryClient: a doc is cached when a query for ['doc', type, id] exists. */
export function queryClientView(qc: QueryClient): CacheView {
  return {
    doc(type: string, id: string): CachedDocState | undefined {
      const q = qc.getQueryCache().find({ queryKey: keys.doc(type, id), exact: true });
      if (!q) return undefined;
      const data = q.state.data as { version?: unknown } | undefined;
      const state: CachedDocState = { fetching: q.state.fetchStatus !== 'idle', hasData: data !== undefined };
      if (isPlainObject(data) && typeof data.version === 'number') state.version = data.version;
      return state;
    },
  };
}

/**
 * A query showing the head of list (type, factoryId): page 1 (`{ page: 1 }`), or an infinite list of it
 * (any filters), recognised before its first page arrives too.
 */
export function isListHead(q: Query, type: string, factoryId: string): boolean {
  const k = q.queryKey;
  if (k[0] !== 'list' || k[1] !== type || k[2] !== factoryId) return false;
  const page = k[3];
  if (isPlainObject(page) && 'page' in page) return page.page === 1;
  return isInfiniteQuery(q);
}

/** Whether a key is one of this SDK's shapes (['doc', ...] or ['list', ...]). */
export const isOwnKey = (k: QueryKey): boolean => k[0] === 'doc' || k[0] === 'list';

/** Trims an infinite list to its first page, so its refetch reads one page, not every page loaded. */
export function trimToFirstPage(qc: QueryClient, q: Query): void {
  const data = q.state.data;
  if (isInfiniteData(data) && data.pages.length > 1) {
    qc.setQueryData(q.queryKey, { pages: data.pages.slice(0, 1), pageParams: data.pageParams.slice(0, 1) });
  }
}

export type RefetchOutcome = 'now' | 'after_fetch' | 'merged' | 'held';

/**
 * The one refetch path. `refetch(q)` marks q stale and refetches it if active — now when no fetch is in
 * flight, otherwise once that fetch settles (success or error), exactly once however many operations ask
 * for it meanwhile. A fetch still held at its view's join gate (`heldAtGate`) has read nothing yet and reads
 * after the change, so it needs no second fetch. `trim`: an infinite list is cut to its first page first.
 * Bounded by the queries in the cache (one pending entry per query).
 */
export class SettledRefetcher {
  private readonly pending_ = new Map<string, { query: Query; trim: boolean }>();
  private unsubscribe_: (() => void) | null = null;

  constructor(
    private readonly qc: QueryClient,
    private readonly heldAtGate: (q: Query) => boolean = () => false,
  ) {}

  refetch(query: Query, trim: boolean): RefetchOutcome {
    if (this.heldAtGate(query)) return 'held';
    const waiting = this.pending_.get(query.queryHash);
    if (waiting?.query === query) {
      waiting.trim ||= trim;
      return 'merged';
    }
    if (query.state.fetchStatus === 'fetching') {
      this.pending_.set(query.queryHash, { query, trim });
      this.listen();
      return 'after_fetch';
    }
    this.run(query, trim);
    return 'now';
  }

  /** Queries owed a refetch once their fetch settles. */
  pending(): number {
    return this.pending_.size;
  }

  dispose(): void {
    this.pending_.clear();
    this.unsubscribe_?.();
    this.unsubscribe_ = null;
  }

  private listen(): void {
    this.unsubscribe_ ??= this.qc.getQueryCache().subscribe((ev) => {
      const p = this.pending_.get(ev.query.queryHash);
      if (!p || p.query !== ev.query) return;
      if (ev.type === 'removed') {
        this.pending_.delete(ev.query.queryHash);
      } else if (ev.type === 'updated' && ev.query.state.fetchStatus !== 'fetching') {
        this.pending_.delete(ev.query.queryHash);
        this.run(p.query, p.trim);
      }
      if (this.pending_.size === 0) {
        this.unsubscribe_?.();
        this.unsubscribe_ = null;
      }
    });
  }

  private run(query: Query, trim: boolean): void {
    if (trim) trimToFirstPage(this.qc, query);
    void this.qc.invalidateQueries({ predicate: (q) => q === query, refetchType: 'active' });
  }
}

export interface ApplyCounters {
  invalidated: number;
  patched: number;
  listRefetches: number;
  resyncs: number;
  recoveries: number;
  dropped: { scope: number; stale: number; notCached: number };
}

/**
 * Applies operations: patches at once, then each query to refetch once (a plan, plus the recovery owed in
 * the same timer tick, asks for a query at most once), through the SettledRefetcher.
 */
export class QueryClientApplier {
  constructor(
    private readonly qc: QueryClient,
    private readonly counters: ApplyCounters,
    private readonly refetcher: SettledRefetcher,
  ) {}

  /** `ops`: a batch's plan. `recovery`: refetches owed by rejoins that could not replay (counted apart). */
  apply(ops: readonly Operation[], recovery: readonly Operation[] = []): void {
    const targets = new Map<Query, boolean>(); // query -> trim first
    const add = (q: Query, trim: boolean) => targets.set(q, (targets.get(q) ?? false) || trim);
    const refetchOf = (op: Operation) => {
      switch (op.op) {
        case 'invalidate': {
          const q = this.find(op.key);
          if (q) add(q, false);
          break;
        }
        case 'refetch_list_head':
          for (const q of this.heads(op.key[1], op.key[2])) add(q, isInfiniteQuery(q));
          break;
        case 'resync':
          // Every doc, and every list head; pages past the head are left alone, as every list event does.
          for (const q of this.qc.getQueryCache().getAll()) {
            if (q.queryKey[0] === 'doc') add(q, false);
            else if (q.queryKey[0] === 'list' && isListHead(q, String(q.queryKey[1]), String(q.queryKey[2]))) add(q, isInfiniteQuery(q));
          }
          break;
        default:
          break;
      }
    };
    for (const op of ops) {
      switch (op.op) {
        case 'invalidate':
          this.counters.invalidated++;
          refetchOf(op);
          break;
        case 'patch': {
          const data = this.qc.getQueryData(op.key);
          if (!isPlainObject(data)) {
            // Only an object can take columns; anything else is refetched instead.
            this.counters.invalidated++;
            refetchOf({ op: 'invalidate', key: op.key, afterFetch: false });
            break;
          }
          const next: Record<string, unknown> = { ...data, ...patchValues(op.set) };
          if (op.version !== undefined) next.version = op.version;
          this.qc.setQueryData(op.key, next);
          this.counters.patched++;
          break;
        }
        case 'refetch_list_head':
          this.counters.listRefetches++;
          refetchOf(op);
          break;
        case 'resync':
          this.counters.resyncs++;
          refetchOf(op);
          break;
        case 'drop':
          if (op.reason === 'out_of_scope') this.counters.dropped.scope++;
          else if (op.reason === 'stale_version') this.counters.dropped.stale++;
          else this.counters.dropped.notCached++;
          break;
      }
    }
    for (const op of recovery) {
      this.counters.recoveries++;
      refetchOf(op);
    }
    for (const [q, trim] of targets) this.refetcher.refetch(q, trim);
  }

  /** The queries showing the head of list (type, factoryId). */
  heads(type: string, factoryId: string): Query[] {
    return this.qc
      .getQueryCache()
      .findAll({ queryKey: keys.lists(type, factoryId) })
      .filter((q) => isListHead(q, type, factoryId));
  }

  private find(key: QueryKey): Query | undefined {
    return this.qc.getQueryCache().find({ queryKey: key, exact: true });
  }
}
