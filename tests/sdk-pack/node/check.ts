// Type-checked by `tsc --noEmit` (see tsconfig.json): the core API from '@rtcache/sdk' in a Node project with
// no React installed.
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createRealtimeCache, keys, realtimeQueryOptions, type RealtimeLike, type RealtimeStats } from '@rtcache/sdk';

interface Invoice {
  id: string;
  total: number;
  version: number;
}

export function watchInvoice(realtime: RealtimeLike, id: string, load: (id: string) => Promise<Invoice>) {
  const queryClient = new QueryClient();
  const rt = createRealtimeCache({ queryClient, realtime, factoryId: 'f1' });
  const observer = new QueryObserver(queryClient, realtimeQueryOptions({ doc: ['invoice', id], queryFn: () => load(id) }));
  const total: number | undefined = observer.getCurrentResult().data?.total;
  // @ts-expect-error an invoice has no such field (unused, and so an error, if the options' types were `any`)
  void observer.getCurrentResult().data?.missing;
  const stats: RealtimeStats = rt.stats();
  return { rt, observer, total, stats, key: keys.doc('invoice', id) };
}
