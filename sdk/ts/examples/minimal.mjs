// The README's minimal example: watch one work order and keep its cached state live.
// Run:  RTCACHE_URL=http://127.0.0.1:4000 RTCACHE_TOKEN=<a user JWT> node examples/minimal.mjs [id] [factoryId]
// (the integration suite imports watchWorkOrder and drives it against a real `rtcache serve`).
import { createClient } from '@supabase/supabase-js';
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import ws from 'ws'; // Node 20 has no global WebSocket; in a browser or Node 22+ leave `transport` out
import { createRealtimeCache, realtimeQueryOptions } from '@rtcache/sdk';

export function watchWorkOrder({ url, token, factoryId, id, load, onChange }) {
  const supabase = createClient(url, token, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws },
  });
  supabase.realtime.setAuth(token);
  const queryClient = new QueryClient();
  const rt = createRealtimeCache({ queryClient, realtime: supabase, factoryId, windowMs: 300 });

  // The view: one query whose options carry its key, its channels (doc:wo:<id> + factory:<f>, watched while
  // it is observed) and its first fetch's wait for their joins.
  const observer = new QueryObserver(queryClient, realtimeQueryOptions({ doc: ['wo', id], queryFn: () => load(id) }));
  const unsubscribe = observer.subscribe((result) => {
    if (result.data) onChange(result.data);
  });

  return {
    rt,
    queryClient,
    async close() {
      unsubscribe();
      await rt.dispose();
      supabase.realtime.disconnect();
    },
  };
}

// Run directly: print the work order each time the cache changes (a refetch or a patch from an event).
if (import.meta.url === `file://${process.argv[1]}`) {
  const [id = '123', factoryId = 'f1'] = process.argv.slice(2);
  let loads = 0;
  const view = watchWorkOrder({
    url: process.env.RTCACHE_URL ?? 'http://127.0.0.1:4000',
    token: process.env.RTCACHE_TOKEN ?? '',
    factoryId,
    id,
    // Your API goes here; this stand-in only counts the refetches.
    load: async (woId) => ({ id: woId, status: 'loaded', version: 0, loads: ++loads }),
    onChange: (wo) => console.log(new Date().toISOString(), JSON.stringify(wo)),
  });
  process.on('SIGINT', () => view.close().then(() => process.exit(0)));
}
