// Runs planned operations against a @tanstack/query-core QueryClient, and reads the QueryClient as the
// planner's CacheView. Refetches are always `refetchType: 'active'`: an inactive query is only marked
// stale and refetches when a view shows it again.
import type { Query, QueryClient, QueryKey } from '@tanstack/query-core';
import { patchValues } from './event.js';
import { keys } from './keys.js';
import type { CachedDocState, CacheView, Operation } from './planner.js';

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Infinite query data: { pages: [...], pageParams: [...] }. */
export const isInfiniteData = (v: unknown): v is { pages: unknown[]; pageParams: unknown[] } =>
  isPlainObject(v) && Array.isArray(v.pages) && Array.isArray(v.pageParams);

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

/** A query showing the head of list (type, factoryId): page 1, or an infinite list of it (any filters). */
export function isListHead(q: Query, type: string, factoryId: string): boolean {
  const k = q.queryKey;
  if (k[0] !== 'list' || k[1] !== type || k[2] !== factoryId) return false;
  if (isInfiniteData(q.state.data)) return true;
  const page = k[3];
  return isPlainObject(page) && page.page === 1;
}

/** Whether a key is one of this SDK's shapes (['doc', ...] or ['list', ...]). */
export const isOwnKey = (k: QueryKey): boolean => k[0] === 'doc' || k[0] === 'list';

export interface ApplyCounters {
  invalidated: number;
  patched: number;
  listRefetches: number;
  resyncs: number;
  dropped: { scope: number; stale: number; notCached: number };
}

/**
 * Applies operations. `afterFetch` invalidations are handed to `deferUntilSettled` (TanStack#8530: an
 * invalidation while a fetch runs must take effect after it, or the fetch's older result wins).
 */
export class QueryClientApplier {
  constructor(
    private readonly qc: QueryClient,
    private readonly counters: ApplyCounters,
    private readonly deferUntilSettled: (key: QueryKey) => void,
  ) {}

  apply(ops: readonly Operation[]): void {
    for (const op of ops) {
      switch (op.op) {
        case 'invalidate':
          this.counters.invalidated++;
          if (op.afterFetch) this.deferUntilSettled(op.key);
          else this.invalidateDoc(op.key);
          break;
        case 'patch': {
          const data = this.qc.getQueryData(op.key);
          if (!isPlainObject(data)) {
            // Only an object can take columns; anything else is refetched instead.
            this.counters.invalidated++;
            this.invalidateDoc(op.key);
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
          this.refetchListHead(op.key[1], op.key[2]);
          break;
        case 'resync':
          this.counters.resyncs++;
          void this.qc.invalidateQueries({ predicate: (q) => isOwnKey(q.queryKey), refetchType: 'active' });
          break;
        case 'drop':
          if (op.reason === 'out_of_scope') this.counters.dropped.scope++;
          else if (op.reason === 'stale_version') this.counters.dropped.stale++;
          else this.counters.dropped.notCached++;
          break;
      }
    }
  }

  invalidateDoc(key: QueryKey): void {
    void this.qc.invalidateQueries({ queryKey: key, exact: true, refetchType: 'active' });
  }

  /** Page 1 only; an infinite list is trimmed to its first page first, so its refetch costs one page. */
  refetchListHead(type: string, factoryId: string): void {
    const heads = this.qc
      .getQueryCache()
      .findAll({ queryKey: keys.lists(type, factoryId) })
      .filter((q) => isListHead(q, type, factoryId));
    if (heads.length === 0) return;
    for (const q of heads) {
      const data = q.state.data;
      if (isInfiniteData(data) && data.pages.length > 1) {
        this.qc.setQueryData(q.queryKey, { pages: data.pages.slice(0, 1), pageParams: data.pageParams.slice(0, 1) });
      }
    }
    const set = new Set(heads);
    void this.qc.invalidateQueries({ predicate: (q) => set.has(q), refetchType: 'active' });
  }
}
