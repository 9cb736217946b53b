// Runs one `client` conformance vector (spec/vectors/README.md, `client`) through the SDK as an app uses it: a
// real QueryClient, createRealtimeCache on the in-memory realtime client, one realtimeQueryOptions query per
// view (an infinite list for a list view), a backend whose reads the vector answers, and a manual clock.
// Returns the reads made and the data the QueryClient holds, for the caller to compare.
import { InfiniteQueryObserver, QueryClient, QueryObserver, type InfiniteData } from '@tanstack/query-core';
import { createRealtimeCache, keys, realtimeInfiniteQueryOptions, realtimeQueryOptions } from '../src/index.js';
import { FakeRealtime, ManualClock } from './fakes.js';

const STEP_KINDS = ['open', 'close', 'nextPage', 'seed', 'join', 'drop', 'receive', 'commit', 'respond', 'tick', 'flush'] as const;
const STEP_FIELDS = new Set(['at', ...STEP_KINDS, 'event', 'value', 'epoch', 'offset', 'recovered', 'expectFetches', 'expectChannels']);
const CASE_FIELDS = new Set(['name', 'description', 'windowMs', 'maxPending', 'firstFetchWaitMs', 'factoryId', 'server', 'steps', 'fetches', 'data']);

/** Lets promise reactions and query-core's notifications (setTimeout 0) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

const schema = (what: string): never => {
  throw new Error(`vector schema: ${what}`);
};

// "doc:<type>:<id>" or "list:<type>:<factoryId>" (a view), with a page for a read key.
function parseView(text: string): { kind: 'doc' | 'list'; type: string; second: string } {
  const [kind, type, second, extra] = text.split(':');
  if ((kind !== 'doc' && kind !== 'list') || !type || !second || extra !== undefined) schema(`bad view "${text}"`);
  return { kind: kind as 'doc' | 'list', type: type!, second: second! };
}

export interface ClientOutcome {
  /** Step checks that failed, each with the step. */
  failures: string[];
  fetches: Record<string, number>;
  data: Record<string, unknown>;
}

export async function runClientVector(c: Record<string, any>): Promise<ClientOutcome> {
  for (const k of Object.keys(c)) if (!CASE_FIELDS.has(k)) schema(`unknown case field "${k}"`);
  const factoryId: string = c.factoryId ?? 'f1';
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity, gcTime: Infinity } } });
  const realtime = new FakeRealtime();
  const clock = new ManualClock();
  const cache = createRealtimeCache({
    queryClient: qc,
    realtime,
    factoryId,
    clock,
    focusManager: null,
    onlineManager: null,
    ...(c.windowMs != null ? { windowMs: c.windowMs } : {}),
    ...(c.maxPending != null ? { maxPending: c.maxPending } : {}),
    ...(c.firstFetchWaitMs != null ? { firstFetchWait: c.firstFetchWaitMs } : {}),
  });

  // The backend: each read snapshots the server's state when it starts and answers when a step says so.
  const server = new Map<string, unknown>(Object.entries(c.server ?? {}));
  const reads: Record<string, number> = {};
  const inFlight: Array<{ key: string; answer: () => void }> = [];
  const read = (key: string): Promise<unknown> => {
    reads[key] = (reads[key] ?? 0) + 1;
    const body = structuredClone(server.get(key) ?? null);
    return new Promise((resolve) => inFlight.push({ key, answer: () => resolve(body) }));
  };

  const views = new Map<string, { unsubscribe: () => void; nextPage?: () => void }>();
  const failures: string[] = [];
  try {
    let now = 0;
    for (const [i, step] of (c.steps as Array<Record<string, any>>).entries()) {
      const where = `step ${i} ${JSON.stringify(step)}`;
      for (const k of Object.keys(step)) if (!STEP_FIELDS.has(k)) schema(`${where}: unknown field "${k}"`);
      const kinds = STEP_KINDS.filter((k) => k in step);
      if (kinds.length !== 1) schema(`${where}: needs exactly one of ${STEP_KINDS.join(', ')}`);
      if (typeof step.at !== 'number' || step.at < now) schema(`${where}: "at" must not go back in time`);
      clock.advance(step.at - now);
      now = step.at;
      await settle();
      switch (kinds[0]) {
        case 'open': {
          const v = parseView(step.open);
          if (views.has(step.open)) schema(`${where}: the view is open already`);
          if (v.kind === 'doc') {
            const obs = new QueryObserver(qc, realtimeQueryOptions({ doc: [v.type, v.second], queryFn: () => read(`doc:${v.type}:${v.second}`) }));
            views.set(step.open, { unsubscribe: obs.subscribe(() => {}) });
          } else {
            const obs = new InfiniteQueryObserver(
              qc,
              realtimeInfiniteQueryOptions({
                list: [v.type, v.second],
                queryFn: ({ pageParam }) => read(`list:${v.type}:${v.second}:${pageParam as number}`),
                initialPageParam: 1,
                getNextPageParam: (_last: unknown, all: unknown[]) => all.length + 1,
              }),
            );
            views.set(step.open, { unsubscribe: obs.subscribe(() => {}), nextPage: () => void obs.fetchNextPage() });
          }
          break;
        }
        case 'close': {
          const v = views.get(step.close) ?? schema(`${where}: no such view open`);
          v.unsubscribe();
          views.delete(step.close);
          break;
        }
        case 'nextPage':
          (views.get(step.nextPage)?.nextPage ?? schema(`${where}: no list view open`))();
          break;
        case 'seed': {
          const v = parseView(step.seed);
          if (v.kind !== 'doc') schema(`${where}: only docs are seeded`);
          qc.setQueryData(keys.doc(v.type, v.second), structuredClone(step.value));
          break;
        }
        case 'join': {
          const joining = realtime.channels.filter((ch) => ch.state === 'joining' && (step.join === '*' || ch.topic === `realtime:${step.join}`));
          if (joining.length === 0) schema(`${where}: no channel waits for that join reply`);
          const rtcache = { epoch: step.epoch ?? 'e1', offset: step.offset ?? 0, recovered: step.recovered ?? false };
          for (const ch of joining) ch.reply('ok', { rtcache });
          break;
        }
        case 'drop':
          // The socket drops and comes back: realtime-js rejoins every channel it holds, with its position.
          for (const ch of [...realtime.channels]) {
            ch.drop();
            ch.rejoin();
          }
          break;
        case 'receive': {
          const ch = realtime.channels.find((x) => x.topic === `realtime:${step.receive}`);
          if (!ch || ch.state !== 'joined') schema(`${where}: channel not joined`);
          ch!.emit(structuredClone(step.event));
          break;
        }
        case 'commit':
          for (const [k, v] of Object.entries(step.commit as Record<string, unknown>)) server.set(k, v);
          break;
        case 'respond': {
          const due = step.respond === '*' ? inFlight.splice(0) : inFlight.splice(Math.max(0, inFlight.findIndex((r) => r.key === step.respond)), 1);
          if (due.length === 0 || (step.respond !== '*' && due[0]!.key !== step.respond)) schema(`${where}: no read of that key in flight`);
          for (const r of due) r.answer();
          break;
        }
        case 'flush':
          cache.flush();
          break;
        case 'tick':
          break;
      }
      await settle();
      if (step.expectFetches) {
        for (const [k, n] of Object.entries(step.expectFetches as Record<string, number>)) {
          if ((reads[k] ?? 0) !== n) failures.push(`${where}: ${k} read ${reads[k] ?? 0} times, expected ${n}`);
        }
      }
      if (step.expectChannels) {
        const got = cache.topics().sort();
        if (JSON.stringify(got) !== JSON.stringify([...step.expectChannels].sort())) failures.push(`${where}: channels ${JSON.stringify(got)}`);
      }
    }
    const data: Record<string, unknown> = {};
    for (const key of Object.keys(c.data ?? {})) {
      const parts = key.split(':');
      if (parts[0] === 'doc') data[key] = qc.getQueryData(keys.doc(parts[1]!, parts[2]!)) ?? null;
      else if (parts[0] === 'list' && parts.length === 4) {
        const inf = qc.getQueryData(keys.lists(parts[1]!, parts[2]!)) as InfiniteData<unknown> | undefined;
        data[key] = inf?.pages[Number(parts[3]) - 1] ?? null;
      } else schema(`bad data key "${key}"`);
    }
    return { failures, fetches: reads, data };
  } finally {
    for (const v of views.values()) v.unsubscribe();
    for (const r of inFlight.splice(0)) r.answer();
    await settle();
    await cache.dispose();
    qc.clear();
  }
}
