// @rtcache/sdk: realtime cache invalidation for TanStack Query over Supabase Realtime (rtcache or Supabase).
export { keys, keyJson, type DocKey, type ListKey, type ListPrefix } from './keys.js';
export {
  createRealtimeCache,
  systemClock,
  DEFAULT_FIRST_FETCH_WAIT_MS,
  type Clock,
  type ManagerLike,
  type RealtimeCache,
  type RealtimeCacheOptions,
  type RealtimeStats,
  type RealtimeStatus,
} from './cache.js';
export {
  realtimeQueryOptions,
  realtimeInfiniteQueryOptions,
  type RealtimeDocQueryInput,
  type RealtimeInfiniteQueryInput,
  type RealtimeInfiniteQueryOptions,
  type RealtimeListQueryInput,
  type RealtimeQueryOptions,
  type RealtimeViewMeta,
  type RealtimeViewOptions,
} from './query_options.js';
export { flushOnNavigate, type NavigationSource } from './navigation.js';
export { channels, channelKey, formatChannelKey, parseChannelKey, type ChannelKey, type ChannelKind } from './channel_keys.js';
export { DocTypeRegistry, DEFAULT_DOC_TYPES, validateId } from './doc_types.js';
export type { ErrorCode, Result, RtError } from './errors.js';
export {
  EventDecoder,
  DEFAULT_LIMITS,
  encodeEvent,
  eventFrom,
  isSummary,
  patchCoversChanges,
  patchValues,
  toPayload,
  type Action,
  type CodecLimits,
  type EventPayload,
  type PatchEntry,
  type RtEvent,
} from './event.js';
export { FactoryScope } from './scope.js';
export { checkVersion, type VersionVerdict } from './version_guard.js';
export { Coalescer, clampWindow, DEFAULT_WINDOW_MS, MAX_WINDOW_MS, MIN_WINDOW_MS, type Batch, type CoalescerConfig } from './coalescer.js';
export { CacheSnapshot, planBatch, planEvent, type CachedDocState, type CacheView, type DropReason, type Operation } from './planner.js';
export { QueryClientApplier, SettledRefetcher, queryClientView, isListHead, isInfiniteData, isInfiniteQuery, type RefetchOutcome } from './apply.js';
export { ChannelPool, joinPosition, realtimeOf, type ChannelLike, type RealtimeLike, type RealtimeSource, type ResumePosition } from './transport.js';
