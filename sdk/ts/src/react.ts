// @rtcache/sdk/react: one hook per realtime view (useRealtimeQuery / useRealtimeInfiniteQuery: the view's
// query, gated on its channels, which are watched while it is mounted), and the lower-level hooks that watch
// while a component is mounted and dispose on unmount.
import {
  useInfiniteQuery,
  useQuery,
  useQueryClient,
  type DefaultError,
  type InfiniteData,
  type QueryKey,
  type UseInfiniteQueryResult,
  type UseQueryOptions,
  type UseQueryResult,
} from '@tanstack/react-query';
import { createContext, createElement, useContext, useEffect, useSyncExternalStore, type ReactNode } from 'react';
import type { RealtimeCache, RealtimeStatus } from './cache.js';
import {
  hasRealtimeCache,
  realtimeInfiniteQueryOptions,
  realtimeQueryOptions,
  type RealtimeDocQueryInput,
  type RealtimeInfiniteQueryInput,
  type RealtimeListQueryInput,
} from './query_options.js';

const Context = createContext<RealtimeCache | null>(null);

export function RealtimeProvider(props: { cache: RealtimeCache; children?: ReactNode }) {
  return createElement(Context.Provider, { value: props.cache }, props.children);
}

export function useRealtimeCache(): RealtimeCache {
  const cache = useContext(Context);
  if (!cache) throw new Error('useRealtime*: no <RealtimeProvider cache={...}> above this component');
  return cache;
}

/** Watches doc:<type>:<id> (and the factory channel) while mounted; nothing when id is null/undefined. */
export function useRealtimeDoc(type: string, id: string | null | undefined): void {
  const cache = useRealtimeCache();
  useEffect(() => (id == null ? undefined : cache.watchDoc(type, id)), [cache, type, id]);
}

/** Watches list:<type>:<factoryId> (and the factory channel) while mounted. */
export function useRealtimeList(type: string): void {
  const cache = useRealtimeCache();
  useEffect(() => cache.watchList(type), [cache, type]);
}

/** The live connection status ({connected, channels, lastEventAt?, recovered?}). */
export function useRealtimeStatus(): RealtimeStatus {
  const cache = useRealtimeCache();
  return useSyncExternalStore(
    (onChange) => cache.subscribeStatus(onChange),
    () => cache.status(),
    () => cache.status(),
  );
}

function useAttachedClient(hook: string) {
  const qc = useQueryClient();
  if (!hasRealtimeCache(qc)) {
    throw new Error(`${hook}: no RealtimeCache on this QueryClient (createRealtimeCache({ queryClient, ... }) with the client of the QueryClientProvider)`);
  }
  return qc;
}

/**
 * One realtime view: useQuery(realtimeQueryOptions(input)). Its first fetch waits for the view's channels
 * (bounded), they are watched while it is mounted, and unmounting flushes its pending events.
 *   const wo = useRealtimeQuery({ doc: ['wo', id], queryFn: () => api.wo(id) })
 */
export function useRealtimeQuery<TQueryFnData = unknown, TError = DefaultError, TData = TQueryFnData>(
  input: RealtimeDocQueryInput<TQueryFnData, TError, TData> | RealtimeListQueryInput<TQueryFnData, TError, TData>,
): UseQueryResult<TData, TError> {
  const qc = useAttachedClient('useRealtimeQuery');
  // One hook for both key shapes: the options are built for the one the input names.
  const options = (
    'doc' in input
      ? realtimeQueryOptions(input as RealtimeDocQueryInput<TQueryFnData, TError, TData>)
      : realtimeQueryOptions(input as RealtimeListQueryInput<TQueryFnData, TError, TData>)
  ) as unknown as UseQueryOptions<TQueryFnData, TError, TData, QueryKey>;
  return useQuery(options, qc);
}

/** One realtime infinite list: useInfiniteQuery(realtimeInfiniteQueryOptions(input)). */
export function useRealtimeInfiniteQuery<
  TQueryFnData = unknown,
  TError = DefaultError,
  TData = InfiniteData<TQueryFnData, unknown>,
  TPageParam = unknown,
>(input: RealtimeInfiniteQueryInput<TQueryFnData, TError, TData, TPageParam>): UseInfiniteQueryResult<TData, TError> {
  const qc = useAttachedClient('useRealtimeInfiniteQuery');
  return useInfiniteQuery(realtimeInfiniteQueryOptions(input), qc);
}
