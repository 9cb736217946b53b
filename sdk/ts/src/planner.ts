// The planner: an event (or a coalesced batch) and what the cache holds -> the exact cache operations
// (design.md §6; mirrors include/rtcache/core/planner.hpp). Pure: nothing is touched here.
import type { Batch } from './coalescer.js';
import { isSummary, patchCoversChanges, type PatchEntry, type RtEvent } from './event.js';
import { keys, type DocKey, type ListKey } from './keys.js';
import type { FactoryScope } from './scope.js';
import { checkVersion } from './version_guard.js';

/** What the cache holds for one document. */
export interface CachedDocState {
  version?: number; // the cached doc's version, if it has one
  fetching: boolean; // a fetch is in flight: its result may predate the event
  hasData: boolean; // false: the first fetch is in flight and no data arrived yet
}

/** The planner's read-only view of a query cache. */
export interface CacheView {
  /** undefined when the cache holds no query for ['doc', type, id]. */
  doc(type: string, id: string): CachedDocState | undefined;
}

export type DropReason = 'out_of_scope' | 'stale_version' | 'not_cached';

export type Operation =
  /** Mark the doc stale and refetch it if active; afterFetch: a fetch is in flight, refetch once it settles. */
  | { op: 'invalidate'; key: DocKey; afterFetch: boolean }
  /** Set these columns on the cached doc without a refetch; `version` is recorded when present. */
  | { op: 'patch'; key: DocKey; set: PatchEntry[]; version?: number }
  /** Refetch page 1 of the list (infinite lists: trim to page 1 first), active queries only. */
  | { op: 'refetch_list_head'; key: ListKey }
  /** Refetch every active query: the fine-grained trail was lost. */
  | { op: 'resync' }
  | { op: 'drop'; reason: DropReason };

/** A CacheView over a plain map, for tests, vectors and benchmarks. */
export class CacheSnapshot implements CacheView {
  private readonly docs_ = new Map<string, CachedDocState>();
  put(type: string, id: string, state: Partial<CachedDocState> = {}): void {
    this.docs_.set(JSON.stringify([type, id]), { fetching: false, hasData: true, ...state });
  }
  doc(type: string, id: string): CachedDocState | undefined {
    return this.docs_.get(JSON.stringify([type, id]));
  }
}

const refetchHead = (e: RtEvent): Operation => ({ op: 'refetch_list_head', key: keys.listHeads(e.type, e.factoryId) });
const invalidate = (e: RtEvent, afterFetch: boolean): Operation => ({ op: 'invalidate', key: keys.doc(e.type, e.id), afterFetch });

/**
 * Rules, in order:
 *  1. factoryId outside `scope` -> drop(out_of_scope).
 *  2. summary (id "*") -> refetch_list_head(type, factoryId).
 *  3. create -> refetch_list_head. delete -> refetch_list_head, and invalidate the doc if cached
 *     (afterFetch when a fetch is in flight).
 *  4. update/approve/reject on a doc the cache neither holds nor is fetching -> drop(not_cached).
 *  5. version older than the cached one -> drop(stale_version).
 *  6. fetch in flight -> invalidate with afterFetch (an event during a fetch is never lost: TanStack#8530).
 *  7. patch covers every changed key -> patch; otherwise invalidate that doc only.
 */
export function planEvent(e: RtEvent, scope: FactoryScope, cache: CacheView): Operation[] {
  if (!scope.contains(e.factoryId)) return [{ op: 'drop', reason: 'out_of_scope' }];
  if (isSummary(e)) return [refetchHead(e)];
  const cached = cache.doc(e.type, e.id);
  if (e.action === 'create' || e.action === 'delete') {
    const ops = [refetchHead(e)];
    if (e.action === 'delete' && cached) ops.push(invalidate(e, cached.fetching));
    return ops;
  }
  if (!cached || (!cached.hasData && !cached.fetching)) return [{ op: 'drop', reason: 'not_cached' }];
  if (checkVersion(e.version, cached.version) === 'stale') return [{ op: 'drop', reason: 'stale_version' }];
  if (cached.fetching) return [invalidate(e, true)];
  if (patchCoversChanges(e)) {
    const op: Operation = { op: 'patch', key: keys.doc(e.type, e.id), set: [...e.patch!] };
    if (e.version !== undefined) op.version = e.version;
    return [op];
  }
  return [invalidate(e, false)];
}

/**
 * A resync batch yields one resync op; otherwise each event's plan, in order, each judged against the cache
 * as earlier ops of the batch leave it (a patch records its version).
 */
export function planBatch(b: Batch, scope: FactoryScope, cache: CacheView): Operation[] {
  if (b.resync) return [{ op: 'resync' }];
  const patched = new CacheSnapshot();
  const view: CacheView = { doc: (type, id) => patched.doc(type, id) ?? cache.doc(type, id) };
  const out: Operation[] = [];
  for (const e of b.events) {
    for (const op of planEvent(e, scope, view)) {
      if (op.op === 'patch') {
        const state = { ...(view.doc(op.key[1], op.key[2]) ?? { fetching: false, hasData: true }) };
        if (op.version !== undefined) state.version = op.version;
        patched.put(op.key[1], op.key[2], state);
      }
      out.push(op);
    }
  }
  return out;
}
