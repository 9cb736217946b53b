// The planner: an event (or a coalesced batch) and what the cache holds -> the exact cache operations
// (docs/design.md §6; mirrors include/rtcache/core/planner.hpp). Pure: nothing is touched here.
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
 * Whether a patch of an event at `incoming` applies on a doc cached at `cached` with no change in between.
 * `first`: for an event the coalescer merged from a run of versions, the run's lowest version (null: not a
 * contiguous run); undefined: the event stands for `incoming` alone.
 */
export function isNextVersion(incoming: number | undefined, cached: number | undefined, first?: number | null): boolean {
  if (incoming === undefined) return true; // no version column: no guard, as docs/design.md §2 says
  const from = first === undefined ? incoming : first;
  return from !== null && cached !== undefined && from === cached + 1;
}

/**
 * Rules, in order:
 *  1. factoryId outside `scope` -> drop(out_of_scope).
 *  2. summary (id "*") -> refetch_list_head(type, factoryId).
 *  3. create -> refetch_list_head. delete -> refetch_list_head, and invalidate the doc if cached
 *     (afterFetch when a fetch is in flight).
 *  4. update/approve/reject on a doc the cache neither holds nor is fetching -> drop(not_cached).
 *  5. version older than the cached one -> drop(stale_version).
 *  6. fetch in flight -> invalidate with afterFetch (an event during a fetch is never lost: TanStack#8530).
 *  7. patch covers every changed key and the event is the cached doc's next version -> patch; otherwise
 *     invalidate that doc only. A patch is a delta from the version before it: applied over a gap it would
 *     label the doc with a version whose skipped changes it lacks, and the skipped event, arriving later, is
 *     dropped as stale. So a versioned event patches only when its version is exactly the cached version + 1
 *     (an equal version or an unknown cached version invalidates too); an unversioned event is not guarded.
 *     `firstVersion` (from Batch.firstVersions): the event merges a contiguous run starting there, and the
 *     run must start at the cached version + 1.
 */
export function planEvent(e: RtEvent, scope: FactoryScope, cache: CacheView, firstVersion?: number | null): Operation[] {
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
  if (patchCoversChanges(e) && isNextVersion(e.version, cached.version, firstVersion)) {
    const op: Operation = { op: 'patch', key: keys.doc(e.type, e.id), set: [...e.patch!] };
    if (e.version !== undefined) op.version = e.version;
    return [op];
  }
  return [invalidate(e, false)];
}

/**
 * A resync batch yields one resync op; otherwise each event's plan, in order, each judged against the cache
 * as earlier ops of the batch leave it (a patch records its version). A refetch is planned once per batch:
 * a later refetch_list_head of the same list head, or invalidate of the same doc with the same afterFetch,
 * is left out (each one would make TanStack cancel the request in flight and send it again).
 */
export function planBatch(b: Batch, scope: FactoryScope, cache: CacheView): Operation[] {
  if (b.resync) return [{ op: 'resync' }];
  const patched = new CacheSnapshot();
  const view: CacheView = { doc: (type, id) => patched.doc(type, id) ?? cache.doc(type, id) };
  const refetched = new Set<string>();
  const out: Operation[] = [];
  b.events.forEach((e, i) => {
    for (const op of planEvent(e, scope, view, b.firstVersions?.[i])) {
      if (op.op === 'refetch_list_head' || op.op === 'invalidate') {
        const id = JSON.stringify(op.op === 'invalidate' ? [op.op, op.key, op.afterFetch] : [op.op, op.key]);
        if (refetched.has(id)) continue;
        refetched.add(id);
      } else if (op.op === 'patch') {
        const state = { ...(view.doc(op.key[1], op.key[2]) ?? { fetching: false, hasData: true }) };
        if (op.version !== undefined) state.version = op.version;
        patched.put(op.key[1], op.key[2], state);
      }
      out.push(op);
    }
  });
  return out;
}
