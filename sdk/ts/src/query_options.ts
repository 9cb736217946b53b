// realtimeQueryOptions / realtimeInfiniteQueryOptions: one options object per realtime view, in TanStack's
// queryOptions shape. It carries the view's key (from keys.ts, so it cannot drift from what events target),
// its join gate (the queryFn waits for the view's channels, views.ts) and its subscription lifetime: the
// RealtimeCache on the same QueryClient watches the view's channels while the query has observers (a
// mounted useQuery, a QueryObserver) and leaves them when the last one goes.
import type {
  DataTag,
  DefaultError,
  InfiniteData,
  InfiniteQueryObserverOptions,
  Query,
  QueryClient,
  QueryFunction,
  QueryFunctionContext,
  QueryKey,
  QueryObserverOptions,
  SkipToken,
} from '@tanstack/query-core';
import { validateDocTypeName, validateId } from './doc_types.js';
import { keys, type DocKey, type ListKey, type ListPrefix } from './keys.js';

/** What a query's `meta.rtcache` says about its view (read by the RealtimeCache of its QueryClient). */
export type RealtimeViewMeta = (
  | { doc: readonly [type: string, id: string] }
  | { list: readonly [type: string, factoryId: string]; page?: number; infinite?: boolean }
) & {
  /** ms; absent: the cache's firstFetchWait. */
  firstFetchWait?: number;
  /** false: no wait and no catch-up. */
  gate?: boolean;
};

/** Per-view settings of the join gate. */
export interface RealtimeViewOptions {
  /**
   * How long this view's first fetch waits for its channels' join replies (ms; default: the cache's
   * `firstFetchWait`, 500). Past it the view is fetched, and fetched once more when the channels are live.
   * 0: fetch at once, and again at the joins.
   */
  firstFetchWait?: number;
  /**
   * false: opt this view out of the gate — its fetches never wait and it is not fetched again at the joins,
   * so a change committed between its first fetch and its channels' joins shows only with the next event.
   * For data that does not change once written. Default true.
   */
  gate?: boolean;
}

// ---- The QueryClient -> RealtimeCache link: the gate lives in the cache, reached from the queryFn context.

/** What the queryFn wrapper needs of a RealtimeCache. */
export interface GateHost {
  /**
   * A promise to wait on before fetching `q` (its view's channels are joining): true to fetch then, false when
   * the fetch was cancelled meanwhile (its view closed); or null to fetch now.
   */
  hold(q: Query): Promise<boolean> | null;
}

const hosts = new Map<QueryClient, GateHost>(); // live caches only: detached on dispose

/** Links `host` to `qc` (one RealtimeCache per QueryClient serves realtime views); false if one already is. */
export function attachGateHost(qc: QueryClient, host: GateHost): boolean {
  if (hosts.has(qc)) return false;
  hosts.set(qc, host);
  return true;
}

export function detachGateHost(qc: QueryClient, host: GateHost): void {
  if (hosts.get(qc) === host) hosts.delete(qc);
}

// The query a fetch is for, and the gate that serves it. query-core puts the QueryClient in the function's
// context (TanStack/query#8599, 5.66; every version the peer range allows); in older versions, the live
// caches are asked in turn.
function gateOf(ctx: { client?: QueryClient; queryKey: QueryKey }): { host: GateHost; q: Query } | undefined {
  const candidates = ctx.client ? [ctx.client] : [...hosts.keys()];
  for (const client of candidates) {
    const host = hosts.get(client);
    const q = host ? client.getQueryCache().find({ queryKey: ctx.queryKey, exact: true }) : undefined;
    if (host && q) return { host, q };
  }
  return undefined;
}

/** Whether a RealtimeCache serves realtime views on `qc`. */
export const hasRealtimeCache = (qc: QueryClient): boolean => hosts.has(qc);

/** The `meta.rtcache` of a query, if it is a realtime view's. */
export function viewMetaOf(q: Query): RealtimeViewMeta | undefined {
  const m = (q.meta as { rtcache?: unknown } | undefined)?.rtcache;
  if (!m || typeof m !== 'object') return undefined;
  const v = m as Record<string, unknown>;
  const pair = (x: unknown) => Array.isArray(x) && x.length === 2 && x.every((s) => typeof s === 'string');
  if (pair(v.doc) || pair(v.list)) return m as RealtimeViewMeta;
  return undefined;
}

function gated<T, K extends QueryKey, P>(fn: QueryFunction<T, K, P>): QueryFunction<T, K, P> {
  return (ctx: QueryFunctionContext<K, P>) => {
    // ctx.client is the QueryClient running the fetch. The signal is passed on untouched: reading it here
    // would make TanStack cancel the app's request on unmount where it would otherwise let it finish.
    const gate = gateOf(ctx as { client?: QueryClient; queryKey: QueryKey });
    const wait = gate ? gate.host.hold(gate.q) : null;
    // A dropped fetch was cancelled (reverted) by the cache: its result is ignored, so none is produced.
    return wait ? wait.then((go) => (go ? fn(ctx) : (undefined as T))) : fn(ctx);
  };
}

function checkDoc(type: string, id: string): void {
  const t = validateDocTypeName(type);
  if (!t.ok) throw new TypeError(`realtimeQueryOptions: ${t.error.message}`);
  const i = validateId(id, 'doc id');
  if (!i.ok) throw new TypeError(`realtimeQueryOptions: ${i.error.message}`);
}

function checkList(type: string, factoryId: string): void {
  const t = validateDocTypeName(type);
  if (!t.ok) throw new TypeError(`realtimeQueryOptions: ${t.error.message}`);
  const f = validateId(factoryId, 'factory id');
  if (!f.ok) throw new TypeError(`realtimeQueryOptions: ${f.error.message}`);
}

function viewSettings(o: RealtimeViewOptions): Pick<RealtimeViewMeta, 'firstFetchWait' | 'gate'> {
  const out: Pick<RealtimeViewMeta, 'firstFetchWait' | 'gate'> = {};
  if (o.firstFetchWait !== undefined) {
    if (!Number.isFinite(o.firstFetchWait) || o.firstFetchWait < 0) throw new RangeError('firstFetchWait must be a number of ms >= 0');
    out.firstFetchWait = o.firstFetchWait;
  }
  if (o.gate === false) out.gate = false;
  return out;
}

type BaseOptions<TQueryFnData, TError, TData, TKey extends QueryKey> = Omit<
  QueryObserverOptions<TQueryFnData, TError, TData, TQueryFnData, TKey>,
  'queryKey' | 'queryFn'
> &
  RealtimeViewOptions;

/** A detail view: `doc: [type, id]`, key ['doc', type, id], channels doc:<type>:<id> + factory:<scope>. */
export type RealtimeDocQueryInput<TQueryFnData, TError, TData> = BaseOptions<TQueryFnData, TError, TData, DocKey> & {
  doc: readonly [type: string, id: string];
  queryFn: QueryFunction<TQueryFnData, DocKey>;
};

/** A list view of one page: `list: [type, factoryId]`, `page` (default 1); channels list:<type>:<f> + factory:<f>. */
export type RealtimeListQueryInput<TQueryFnData, TError, TData> = BaseOptions<TQueryFnData, TError, TData, ListKey> & {
  list: readonly [type: string, factoryId: string];
  page?: number;
  queryFn: QueryFunction<TQueryFnData, ListKey>;
};

// queryFn is redeclared on the options without it (as react-query's own queryOptions does), not intersected
// with theirs: before query-core 5.100.2, fetchQuery inferred its page parameter from the intersection as
// `unknown`, and its `persister` type then refused the options.
export type RealtimeQueryOptions<TQueryFnData, TError, TData, TKey extends QueryKey> = Omit<
  QueryObserverOptions<TQueryFnData, TError, TData, TQueryFnData, TKey>,
  'queryFn'
> & {
  queryKey: DataTag<TKey, TQueryFnData, TError>;
  queryFn: Exclude<QueryObserverOptions<TQueryFnData, TError, TData, TQueryFnData, TKey>['queryFn'], SkipToken | undefined>;
};

/**
 * The options of one realtime view, for useQuery / QueryObserver / fetchQuery alike:
 *   useQuery(realtimeQueryOptions({ doc: ['wo', id], queryFn: () => api.wo(id) }))
 *   useQuery(realtimeQueryOptions({ list: ['wo', factoryId], page, queryFn: () => api.wos(factoryId, page) }))
 * Any other query option (staleTime, select, enabled, ...) passes through. Throws a TypeError naming the
 * grammar rule for a malformed type or id (a programming error, as with watchDoc).
 */
export function realtimeQueryOptions<TQueryFnData = unknown, TError = DefaultError, TData = TQueryFnData>(
  input: RealtimeDocQueryInput<TQueryFnData, TError, TData>,
): RealtimeQueryOptions<TQueryFnData, TError, TData, DocKey>;
export function realtimeQueryOptions<TQueryFnData = unknown, TError = DefaultError, TData = TQueryFnData>(
  input: RealtimeListQueryInput<TQueryFnData, TError, TData>,
): RealtimeQueryOptions<TQueryFnData, TError, TData, ListKey>;
export function realtimeQueryOptions(
  input: RealtimeDocQueryInput<any, any, any> | RealtimeListQueryInput<any, any, any>,
): RealtimeQueryOptions<any, any, any, any> {
  const { firstFetchWait, gate, queryFn, meta, ...rest } = input as RealtimeDocQueryInput<unknown, unknown, unknown> &
    Partial<RealtimeListQueryInput<unknown, unknown, unknown>>;
  const settings = viewSettings({ firstFetchWait, gate });
  let queryKey: QueryKey;
  let view: RealtimeViewMeta;
  if ('doc' in input && input.doc) {
    const [type, id] = input.doc;
    checkDoc(type, id);
    queryKey = keys.doc(type, id);
    view = { doc: [type, id], ...settings };
    delete (rest as { doc?: unknown }).doc;
  } else if ('list' in input && input.list) {
    const [type, factoryId] = input.list;
    checkList(type, factoryId);
    const page = (input as RealtimeListQueryInput<unknown, unknown, unknown>).page ?? 1;
    queryKey = keys.list(type, factoryId, page);
    view = { list: [type, factoryId], page, ...settings };
    delete (rest as { list?: unknown; page?: unknown }).list;
    delete (rest as { page?: unknown }).page;
  } else {
    throw new TypeError('realtimeQueryOptions: give `doc: [type, id]` or `list: [type, factoryId]`');
  }
  if (typeof queryFn !== 'function') throw new TypeError('realtimeQueryOptions: queryFn must be a function');
  return {
    ...rest,
    queryKey: queryKey as DataTag<QueryKey, unknown, unknown>,
    queryFn: gated(queryFn as QueryFunction<unknown, QueryKey>),
    meta: { ...meta, rtcache: view },
  } as RealtimeQueryOptions<unknown, unknown, unknown, QueryKey>;
}

/** An infinite list view: `list: [type, factoryId]`, key ['list', type, factoryId]; its head is its first page. */
export type RealtimeInfiniteQueryInput<TQueryFnData, TError, TData, TPageParam> = Omit<
  InfiniteQueryObserverOptions<TQueryFnData, TError, TData, ListPrefix, TPageParam>,
  'queryKey' | 'queryFn'
> &
  RealtimeViewOptions & {
    list: readonly [type: string, factoryId: string];
    queryFn: QueryFunction<TQueryFnData, ListPrefix, TPageParam>;
  };

export type RealtimeInfiniteQueryOptions<TQueryFnData, TError, TData, TPageParam> = InfiniteQueryObserverOptions<
  TQueryFnData,
  TError,
  TData,
  ListPrefix,
  TPageParam
> & {
  queryKey: DataTag<ListPrefix, InfiniteData<TQueryFnData, TPageParam>, TError>;
  queryFn: QueryFunction<TQueryFnData, ListPrefix, TPageParam>;
};

/**
 * The options of an infinite list view (useInfiniteQuery / InfiniteQueryObserver). A create, delete or
 * summary trims it to its first page and refetches that page only.
 */
export function realtimeInfiniteQueryOptions<
  TQueryFnData = unknown,
  TError = DefaultError,
  TData = InfiniteData<TQueryFnData, unknown>,
  TPageParam = unknown,
>(
  input: RealtimeInfiniteQueryInput<TQueryFnData, TError, TData, TPageParam>,
): RealtimeInfiniteQueryOptions<TQueryFnData, TError, TData, TPageParam> {
  const { firstFetchWait, gate, queryFn, meta, list, ...rest } = input;
  if (!list) throw new TypeError('realtimeInfiniteQueryOptions: give `list: [type, factoryId]`');
  const [type, factoryId] = list;
  checkList(type, factoryId);
  if (typeof queryFn !== 'function') throw new TypeError('realtimeInfiniteQueryOptions: queryFn must be a function');
  const view: RealtimeViewMeta = { list: [type, factoryId], infinite: true, ...viewSettings({ firstFetchWait, gate }) };
  return {
    ...rest,
    queryKey: keys.lists(type, factoryId) as DataTag<ListPrefix, InfiniteData<TQueryFnData, TPageParam>, TError>,
    queryFn: gated(queryFn),
    meta: { ...meta, rtcache: view },
  } as RealtimeInfiniteQueryOptions<TQueryFnData, TError, TData, TPageParam>;
}
