// A consumer of the packed @rtcache/sdk: the core API from '@rtcache/sdk', the hooks from '@rtcache/sdk/react'.
// `tsc --noEmit` (strict, the shipped .d.ts checked) must pass and `vite build` must bundle it. The lines
// marked "expect-error" fail the type-check if the SDK's types decay to `any` (an unused directive is an error).
import { RealtimeClient } from '@supabase/realtime-js';
import { createClient } from '@supabase/supabase-js';
import { QueryClient, QueryClientProvider, useSuspenseQuery } from '@tanstack/react-query';
import { StrictMode, Suspense, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  createRealtimeCache,
  flushOnNavigate,
  keys,
  realtimeInfiniteQueryOptions,
  realtimeQueryOptions,
  type DocKey,
  type RealtimeCache,
  type RealtimeStatus,
} from '@rtcache/sdk';
import { RealtimeProvider, useRealtimeInfiniteQuery, useRealtimeQuery, useRealtimeStatus } from '@rtcache/sdk/react';
import { api, type WorkOrder, type WorkOrderPage } from './api';

const factoryId = 'f1';
const queryClient = new QueryClient();
const supabase = createClient('https://project.supabase.co', 'anon-key');

// The cache takes a SupabaseClient or its RealtimeClient (or a RealtimeClient of its own).
const rt: RealtimeCache = createRealtimeCache({ queryClient, realtime: supabase, factoryId, onStatus: (s: RealtimeStatus) => console.debug(s) });
export const standalone = (url: string) =>
  createRealtimeCache({ queryClient: new QueryClient(), realtime: new RealtimeClient(url, { params: { apikey: 'anon-key' } }), factoryId });
flushOnNavigate(rt);

const woOptions = (id: string) => realtimeQueryOptions({ doc: ['wo', id], queryFn: () => api.wo(id), staleTime: 30_000 });

// The options carry a typed key: the cache's data is a WorkOrder, outside React too.
export async function preload(id: string): Promise<WorkOrder> {
  const key: DocKey = woOptions(id).queryKey;
  const cached = queryClient.getQueryData(woOptions(id).queryKey);
  const status: WorkOrder['status'] | undefined = cached?.status;
  // @ts-expect-error a work order has no such field
  void cached?.missing;
  void [key, status];
  await queryClient.prefetchInfiniteQuery(
    realtimeInfiniteQueryOptions({
      list: ['wo', factoryId],
      queryFn: ({ pageParam }) => api.wos(factoryId, pageParam),
      initialPageParam: 1,
      getNextPageParam: (last: WorkOrderPage) => last.next,
    }),
  );
  return cached ?? queryClient.fetchQuery(woOptions(id));
}

function WorkOrderView({ id }: { id: string }) {
  const wo = useRealtimeQuery({ doc: ['wo', id], queryFn: () => api.wo(id) });
  const status: WorkOrder['status'] | undefined = wo.data?.status;
  // @ts-expect-error a work order has no such field
  void wo.data?.missing;
  return <p>{wo.isPending ? 'loading' : `${id}: ${status} (v${wo.data?.version})`}</p>;
}

function SuspenseWorkOrder({ id }: { id: string }) {
  const { data } = useSuspenseQuery(woOptions(id));
  const qty: number = data.qty;
  return <p>qty {qty}</p>;
}

function WorkOrderPageView({ page }: { page: number }) {
  const list = useRealtimeQuery({ list: ['wo', factoryId], page, queryFn: () => api.wos(factoryId, page) });
  const rows: WorkOrder[] = list.data?.rows ?? [];
  return <p>page {page}: {rows.length} rows ({keys.list('wo', factoryId, page).join('/')})</p>;
}

function WorkOrders() {
  const list = useRealtimeInfiniteQuery({
    list: ['wo', factoryId],
    queryFn: ({ pageParam }) => api.wos(factoryId, pageParam),
    initialPageParam: 1,
    getNextPageParam: (last: WorkOrderPage) => last.next,
  });
  const [open, setOpen] = useState<string | null>(null);
  const rows = list.data?.pages.flatMap((p) => p.rows) ?? [];
  return (
    <>
      <ul>
        {rows.map((r) => (
          <li key={r.id} onClick={() => setOpen(r.id)}>
            {r.id} {r.status}
          </li>
        ))}
      </ul>
      {list.hasNextPage && <button onClick={() => void list.fetchNextPage()}>more</button>}
      {open && <WorkOrderView id={open} />}
      {open && (
        <Suspense fallback={<p>loading</p>}>
          <SuspenseWorkOrder id={open} />
        </Suspense>
      )}
      <WorkOrderPageView page={2} />
    </>
  );
}

function Status() {
  const s = useRealtimeStatus();
  return <footer>{s.connected ? `live, ${s.channels} channels` : 'offline'}</footer>;
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RealtimeProvider cache={rt}>
        <WorkOrders />
        <Status />
      </RealtimeProvider>
    </QueryClientProvider>
  </StrictMode>,
);
