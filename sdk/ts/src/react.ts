// @rtcache/sdk/react: hooks that watch while a component is mounted and dispose on unmount.
import { createContext, createElement, useContext, useEffect, useSyncExternalStore, type ReactNode } from 'react';
import type { RealtimeCache, RealtimeStatus } from './cache.js';

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
