// The version guard: an event older than the cached doc is stale. Equal versions apply (idempotent re-apply);
// without either version there is no guard.
export type VersionVerdict = 'apply' | 'stale';

export function checkVersion(incoming: number | null | undefined, cached: number | null | undefined): VersionVerdict {
  return typeof incoming === 'number' && typeof cached === 'number' && incoming < cached ? 'stale' : 'apply';
}
