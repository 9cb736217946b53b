// Anchor 2: the playbook's sample logic (the team's realtime cache invalidation playbook, "realtime/
// subscribe.ts" and "realtime/handler.ts"), kept as written, with only what a team must change to run it
// here: the QueryClient and the timers are passed in instead of being module globals. Its known bugs are
// kept on purpose, because they are what ships when the sample is pasted:
//   - the patch copies only keys the payload object itself holds (`evt.hasOwnProperty(k)`): of a row's
//     changed columns that is just `version`, so the cached doc gets the new version and the old values;
//   - the version guard's "stale" case falls through to invalidate (a refetch), it does not drop;
//   - no scope check: mapPostgresChangeToEvent stamps every event with the subscriber's own factoryId;
//   - postgres_changes has no approve/reject (they arrive as UPDATE) and no summaries; a DELETE carries
//     `new: {}`, which `chg.new || chg.old` takes, so a delete on a list channel maps to no id and is lost;
//   - the visibilitychange listener is never removed (not exercised: no view unmounts here).
// Interpretation (docs/benchmarks-cost.md): rtcache serves the `{event:'*', schema:'public'}` bindings
// scoped to each contract channel's rows, so a doc:/list: channel yields one record per contract message,
// and the factory: channel (summaries only, no row) yields none. Tables use REPLICA IDENTITY FULL (the
// design's condition for changedKeys), so an UPDATE's old row is complete.
import type { QueryClient } from '@tanstack/query-core';
import type { Clock, EventPayload } from '../src/index.js';
import type { SimRealtime } from './sim.js';

export type RealtimeEvent = {
  type: string;
  id: string;
  factoryId: string;
  action: 'create' | 'update' | 'delete' | 'approve' | 'reject';
  changedKeys?: string[];
  version?: number;
  ts?: string;
};

export interface SampleContext {
  queryClient: QueryClient;
  clock: Clock;
}

const keyDoc = (type: string, id: string) => ['doc', type, id] as const;
const keyList = (type: string, factoryId: string, page = 1) => ['list', type, factoryId, { page }] as const;
const keyListHeads = (type: string, factoryId: string) => keyList(type, factoryId, 1);

// ---- realtime/handler.ts
function isStale<T extends { version?: number }>(incoming?: number, cached?: T) {
  return typeof incoming === 'number' && typeof cached?.version === 'number' && incoming < (cached.version as number);
}

export function handleRealtimeEvent(ctx: SampleContext, evt: RealtimeEvent) {
  const queryClient = ctx.queryClient;
  const docKey = keyDoc(evt.type, evt.id);
  const listKey = keyListHeads(evt.type, evt.factoryId);

  if (evt.action === 'update' || evt.action === 'approve' || evt.action === 'reject') {
    const cached = queryClient.getQueryData<any>(docKey);
    if (cached && evt.changedKeys?.length && !isStale(evt.version, cached)) {
      const patched = { ...cached };
      for (const k of evt.changedKeys) {
        if (k in patched && Object.prototype.hasOwnProperty.call(evt, k)) patched[k] = (evt as any)[k];
      }
      queryClient.setQueryData(docKey, { ...patched, version: evt.version ?? patched.version });
    } else {
      void queryClient.invalidateQueries({ queryKey: docKey });
    }
  }

  if (evt.action === 'create' || evt.action === 'delete') {
    void queryClient.invalidateQueries({ queryKey: listKey, refetchType: 'active' });
  }
}

// ---- realtime/subscribe.ts
const DEBOUNCE_MS_DEFAULT = 300;

export function subscribeRealtime(
  ctx: SampleContext,
  opts: {
    supabase: SimRealtime;
    factoryId: string;
    views: Array<{ kind: 'doc'; type: string; id: string } | { kind: 'list'; type: string }>;
    debounceMs?: number;
  },
) {
  const { supabase, factoryId, views, debounceMs = DEBOUNCE_MS_DEFAULT } = opts;
  const channels: Array<ReturnType<typeof supabase.channel>> = [];

  const queue = new Map<string, RealtimeEvent>();
  let timer: unknown;

  function enqueue(evt: RealtimeEvent) {
    const key = `${evt.type}:${evt.id}:${evt.action}`;
    const existing = queue.get(key);
    if (!existing || (evt.version ?? 0) >= (existing.version ?? 0)) {
      queue.set(key, evt);
    }
    if (timer) return;
    timer = ctx.clock.setTimeout(flush, debounceMs);
  }

  function flush() {
    queue.forEach((evt) => handleRealtimeEvent(ctx, evt));
    queue.clear();
    ctx.clock.clearTimeout(timer);
    timer = undefined;
  }

  channels.push(
    supabase
      .channel(`factory:${factoryId}`)
      .on('postgres_changes', { event: '*', schema: 'public' }, (chg: any) => {
        const evt = mapPostgresChangeToEvent(chg, factoryId);
        if (evt) enqueue(evt);
      })
      .subscribe(),
  );

  for (const v of views) {
    if (v.kind === 'doc') {
      channels.push(
        supabase
          .channel(`doc:${v.type}:${v.id}`)
          .on('postgres_changes', { event: '*', schema: 'public' }, (chg: any) => {
            const evt = mapPostgresChangeToEvent(chg, factoryId, v.type, v.id);
            if (evt) enqueue(evt);
          })
          .subscribe(),
      );
    } else {
      channels.push(
        supabase
          .channel(`list:${v.type}:${factoryId}`)
          .on('postgres_changes', { event: '*', schema: 'public' }, (chg: any) => {
            const evt = mapPostgresChangeToEvent(chg, factoryId, v.type);
            if (evt) enqueue(evt);
          })
          .subscribe(),
      );
    }
  }

  return () => {
    channels.forEach((ch) => void supabase.removeChannel(ch));
  };
}

function mapPostgresChangeToEvent(chg: any, factoryId: string, forceType?: string, forceId?: string): RealtimeEvent | null {
  const row = chg.new || chg.old || {};
  const type = forceType ?? (row.__type || chg.table);
  const id = forceId ?? row.id ?? row.uuid ?? row.code;
  if (!type || !id) return null;

  const action = chg.eventType === 'INSERT' ? 'create' : chg.eventType === 'UPDATE' ? 'update' : chg.eventType === 'DELETE' ? 'delete' : 'update';

  const changedKeys =
    chg.eventType === 'UPDATE' && chg.old && chg.new ? Object.keys(chg.new).filter((k) => chg.new[k] !== chg.old[k]) : undefined;

  return {
    type,
    id: String(id),
    factoryId,
    action,
    changedKeys,
    version: row.version,
    ts: chg.commit_timestamp, // the sample stamps the client's wall clock; the replay uses the commit time
  };
}

/**
 * The postgres_changes record rtcache attaches to a contract message on a doc:/list: channel (Supabase's
 * shape: INSERT has `old: {}`, DELETE has `new: {}`; REPLICA IDENTITY FULL gives UPDATE the whole old row).
 * Only the columns the event names are modelled: nothing in the sample reads any other.
 */
export function postgresRecordOf(ev: EventPayload): Record<string, unknown> {
  const base: Record<string, unknown> = { id: ev.id, factory_id: ev.factoryId };
  const after: Record<string, unknown> = { ...base };
  const before: Record<string, unknown> = { ...base };
  if (ev.version !== undefined) {
    after.version = ev.version;
    before.version = ev.version - 1;
  }
  for (const k of ev.changedKeys ?? []) {
    after[k] = ev.patch && k in ev.patch ? ev.patch[k] : `${k}@${ev.version ?? '?'}`;
    before[k] = `${k}@before`;
  }
  const eventType = ev.action === 'create' ? 'INSERT' : ev.action === 'delete' ? 'DELETE' : 'UPDATE';
  return {
    schema: 'public',
    table: ev.type,
    commit_timestamp: ev.ts,
    eventType,
    new: eventType === 'DELETE' ? {} : after,
    old: eventType === 'INSERT' ? {} : before,
    errors: null,
  };
}
