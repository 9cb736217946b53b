// Wiring for the integration tests: a real realtime-js client, a real QueryClient with observers (active
// queries, each a realtime view: realtimeQueryOptions), and a tiny "backend" whose rows the query functions
// read and count.
import { RealtimeClient } from '@supabase/realtime-js';
import { InfiniteQueryObserver, QueryClient, QueryObserver, type QueryKey } from '@tanstack/query-core';
import { inject } from 'vitest';
import ws from 'ws';
import {
  createRealtimeCache,
  keys,
  realtimeInfiniteQueryOptions,
  realtimeQueryOptions,
  type RealtimeCache,
  type RealtimeCacheOptions,
} from '../../src/index.js';
import { until, userToken } from './server.js';

export function serverUnderTest(): { url: string; secret: string } {
  const s = inject('rtcache');
  if (s.error) throw new Error(`integration server: ${s.error}`);
  return s;
}

export function realtimeClient(url: string, token: string, options: Record<string, unknown> = {}): RealtimeClient {
  const rt = new RealtimeClient(`${url.replace(/^http/, 'ws')}/realtime/v1`, {
    params: { apikey: token },
    transport: ws as never,
    timeout: 5000,
    ...options,
  });
  void rt.setAuth(token);
  return rt;
}

export interface Row {
  id: string;
  status: string;
  qty: number;
  version: number;
}

/** The backend: rows by (type, id) and list pages; every read counted by key. */
export class Backend {
  rows = new Map<string, Row>();
  lists = new Map<string, string[]>(); // `${type}:${factoryId}` -> ids, newest first
  reads = new Map<string, number>();
  gate: Promise<void> | null = null; // when set, doc reads wait for it (a slow fetch)
  pageSize = 2;

  count(key: QueryKey): number {
    return this.reads.get(JSON.stringify(key)) ?? 0;
  }
  private hit(key: QueryKey) {
    this.reads.set(JSON.stringify(key), this.count(key) + 1);
  }
  async readDoc(type: string, id: string): Promise<Row> {
    this.hit(keys.doc(type, id));
    const snapshot = { ...this.rows.get(`${type}:${id}`)! };
    if (this.gate) await this.gate;
    return snapshot;
  }
  async readPage(type: string, factoryId: string, page: number): Promise<string[]> {
    this.hit(keys.list(type, factoryId, page));
    const all = this.lists.get(`${type}:${factoryId}`) ?? [];
    return all.slice((page - 1) * this.pageSize, page * this.pageSize);
  }
}

export class Harness {
  readonly qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity, gcTime: Infinity } } });
  readonly backend = new Backend();
  readonly realtime: RealtimeClient;
  readonly cache: RealtimeCache;
  private readonly unsubs = new Map<object, () => void>();

  constructor(
    readonly server: { url: string; secret: string },
    opts: { factoryId?: string; token?: string; cache?: Partial<RealtimeCacheOptions>; realtime?: Record<string, unknown> } = {},
  ) {
    const token = opts.token ?? userToken(server.secret, [opts.factoryId ?? 'f1']);
    this.realtime = realtimeClient(server.url, token, opts.realtime);
    this.cache = createRealtimeCache({
      queryClient: this.qc,
      realtime: this.realtime,
      factoryId: opts.factoryId ?? 'f1',
      windowMs: 250,
      focusManager: null, onlineManager: null,
      ...opts.cache,
    });
  }

  /** A doc view (realtimeQueryOptions; an observer is subscribed, as a mounted view has): loaded once its
   *  channels are joined. */
  async observeDoc(type: string, id: string): Promise<QueryObserver<Row>> {
    const obs = new QueryObserver<Row, Error, Row, Row, readonly unknown[]>(
      this.qc,
      realtimeQueryOptions({ doc: [type, id], queryFn: () => this.backend.readDoc(type, id) }) as never,
    );
    this.unsubs.set(obs, obs.subscribe(() => {}));
    await until(() => obs.getCurrentResult().isSuccess, 5000, `doc ${type}:${id} loaded`);
    return obs;
  }

  async observePage(type: string, factoryId: string, page: number): Promise<QueryObserver<string[]>> {
    const obs = new QueryObserver<string[], Error, string[], string[], readonly unknown[]>(
      this.qc,
      realtimeQueryOptions({ list: [type, factoryId], page, queryFn: () => this.backend.readPage(type, factoryId, page) }) as never,
    );
    this.unsubs.set(obs, obs.subscribe(() => {}));
    await until(() => obs.getCurrentResult().isSuccess, 5000, `list ${type}:${factoryId} page ${page} loaded`);
    return obs;
  }

  observeInfinite(type: string, factoryId: string) {
    const obs = new InfiniteQueryObserver<{ ids: string[]; page: number }, Error, any, QueryKey, number>(
      this.qc,
      realtimeInfiniteQueryOptions<{ ids: string[]; page: number }, Error, any, number>({
        list: [type, factoryId],
        queryFn: async ({ pageParam }) => ({ ids: await this.backend.readPage(type, factoryId, pageParam), page: pageParam }),
        initialPageParam: 1,
        getNextPageParam: (last) => last.page + 1,
      }) as never,
    );
    this.unsubs.set(obs, obs.subscribe(() => {}));
    return obs;
  }

  async connected(): Promise<void> {
    await until(() => this.cache.status().connected, 8000, () => `channels joined: ${JSON.stringify(this.cache.status())} ${this.cache.topics()}`);
  }

  /** Unmounts a view: its observer unsubscribes (the view's channels are left when nothing else holds them). */
  unobserve(obs: object): void {
    this.unsubs.get(obs)?.();
    this.unsubs.delete(obs);
  }

  async close(): Promise<void> {
    for (const u of this.unsubs.values()) u();
    this.unsubs.clear();
    await this.cache.dispose();
    this.realtime.disconnect();
    this.qc.clear();
  }
}
