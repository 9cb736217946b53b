// @vitest-environment jsdom
// The React layer: hooks watch on mount and dispose on unmount, StrictMode's double effects cost no extra
// join, and useRealtimeStatus is live. Rendered with react-dom under jsdom; realtime is the in-memory fake.
import { QueryClient, QueryClientProvider, useQuery, type InfiniteData } from '@tanstack/react-query';
import { Component, createElement, StrictMode, useState, type ReactNode } from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createRealtimeCache, keys, type RealtimeCache } from '../src/index.js';
import {
  RealtimeProvider,
  useRealtimeDoc,
  useRealtimeInfiniteQuery,
  useRealtimeList,
  useRealtimeQuery,
  useRealtimeStatus,
} from '../src/react.js';
import { FakeRealtime, ManualClock } from './fakes.js';

beforeAll(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
});

let root: Root | null = null;
let container: HTMLElement | null = null;
let cache: RealtimeCache | null = null;
afterEach(async () => {
  await act(async () => root?.unmount());
  root = null;
  container?.remove();
  await cache?.dispose();
});

// Waits for `check` to pass, letting React commit between tries. Each try ends an act() scope: React 18
// commits the updates queued in a scope only when it ends, so a wait inside one scope never sees them there.
const eventually = (check: () => void) =>
  vi.waitFor(async () => {
    await act(async () => {});
    check();
  });

function mount(ui: ReactNode, strict = false) {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
  return act(async () => root!.render(strict ? createElement(StrictMode, null, ui) : ui));
}

function make() {
  const rt = new FakeRealtime();
  cache = createRealtimeCache({ queryClient: new QueryClient(), realtime: rt, factoryId: 'f1', clock: new ManualClock(), focusManager: null, onlineManager: null });
  return { rt, cache };
}

function DocView({ id }: { id: string }) {
  useRealtimeDoc('wo', id);
  return createElement('p', null, `doc ${id}`);
}
function ListView() {
  useRealtimeList('grn');
  return createElement('p', null, 'list');
}
function Status() {
  const s = useRealtimeStatus();
  return createElement('span', { id: 'status' }, `${s.connected ? 'live' : 'offline'}:${s.channels}`);
}

// The two-call API: a watch and a query tied by the key only.
function LiveDoc() {
  useRealtimeDoc('wo', '7');
  const q = useQuery({ queryKey: keys.doc('wo', '7'), queryFn: async () => ({ status: 'open', version: 1 }) });
  return createElement('b', null, q.data ? `${q.data.status}@${q.data.version}` : 'loading');
}

let loads = 0;
// The one-call API: one hook per view.
function RealtimeDoc({ id }: { id: string }) {
  const q = useRealtimeQuery({ doc: ['wo', id], queryFn: async () => ({ status: 'open', version: 1, loads: ++loads }) });
  return createElement('b', null, q.data ? `${q.data.status}@${q.data.version}` : 'loading');
}
function RealtimeList() {
  const q = useRealtimeInfiniteQuery({
    list: ['wo', 'f1'],
    queryFn: async ({ pageParam }) => [`row${pageParam as number}`],
    initialPageParam: 1,
    getNextPageParam: (_l: string[], all: string[][]) => all.length + 1,
  });
  const data = q.data as InfiniteData<string[]> | undefined;
  return createElement('i', null, data ? data.pages.flat().join(',') : 'loading');
}

function provide(queryClient: QueryClient, ui: ReactNode) {
  return createElement(QueryClientProvider, { client: queryClient }, createElement(RealtimeProvider, { cache: cache! }, ui));
}

describe('React hooks', () => {
  test('useRealtimeQuery: one fetch once the view\'s channels are joined, then a patch from an event', async () => {
    const rt = new FakeRealtime();
    const clock = new ManualClock();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock, focusManager: null, onlineManager: null });
    loads = 0;
    await mount(provide(queryClient, createElement(RealtimeDoc, { id: '7' })));
    const text = () => container!.querySelector('b')!.textContent;
    expect(rt.topics()).toEqual(['doc:wo:7', 'factory:f1']);
    expect(text()).toBe('loading');
    expect(loads).toBe(0);
    await act(async () => rt.joinAll());
    await eventually(() => expect(text()).toBe('open@1'));
    await act(async () => {
      rt.get('doc:wo:7').emit({ type: 'wo', id: '7', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
      clock.advance(cache!.windowMs);
    });
    expect(cache!.stats()).toMatchObject({ patched: 1 });
    await eventually(() => expect(text()).toBe('approved@2'));
    expect(loads).toBe(1);
  });

  test('useRealtimeQuery under StrictMode: one join per channel and one fetch', async () => {
    const rt = new FakeRealtime();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock: new ManualClock(), focusManager: null, onlineManager: null });
    loads = 0;
    await mount(provide(queryClient, createElement(RealtimeDoc, { id: '8' })), true);
    await act(async () => rt.joinAll());
    await eventually(() => expect(container!.querySelector('b')!.textContent).toBe('open@1'));
    expect(rt.created.length).toBe(2);
    expect(loads).toBe(1);
  });

  test('useRealtimeInfiniteQuery: an infinite list view on list:<type>:<f> + factory:<f>', async () => {
    const rt = new FakeRealtime();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock: new ManualClock(), focusManager: null, onlineManager: null });
    await mount(provide(queryClient, createElement(RealtimeList)));
    expect(rt.topics()).toEqual(['factory:f1', 'list:wo:f1']);
    await act(async () => rt.joinAll());
    await eventually(() => expect(container!.querySelector('i')!.textContent).toBe('row1'));
  });

  test('unmounting a useRealtimeQuery view flushes its pending events and leaves its channels', async () => {
    const rt = new FakeRealtime();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock: new ManualClock(), focusManager: null, onlineManager: null });
    await mount(provide(queryClient, createElement(RealtimeDoc, { id: '9' })));
    await act(async () => rt.joinAll());
    await eventually(() => expect(container!.querySelector('b')!.textContent).toBe('open@1'));
    rt.get('doc:wo:9').emit({ type: 'wo', id: '9', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
    await act(async () => root!.render(provide(queryClient, createElement('p', null, 'elsewhere'))));
    expect(queryClient.getQueryData(keys.doc('wo', '9'))).toMatchObject({ status: 'approved', version: 2 });
    await act(async () => {});
    expect(rt.channels).toEqual([]);
  });

  test('useRealtimeQuery on a QueryClient without a RealtimeCache says what is missing', async () => {
    const queryClient = new QueryClient();
    class Boundary extends Component<{ children?: ReactNode }, { error?: string }> {
      override state: { error?: string } = {};
      static getDerivedStateFromError(e: unknown) {
        return { error: String(e) };
      }
      override render() {
        return this.state.error ? createElement('em', null, this.state.error) : this.props.children;
      }
    }
    const quiet = console.error;
    console.error = () => {};
    try {
      await mount(createElement(QueryClientProvider, { client: queryClient }, createElement(Boundary, null, createElement(RealtimeDoc, { id: '1' }))));
    } finally {
      console.error = quiet;
    }
    expect(container!.querySelector('em')?.textContent).toMatch(/no RealtimeCache on this QueryClient/);
  });

  test('the two-call API (useRealtimeDoc + useQuery) keeps working: its data is fetched again once the channels are live', async () => {
    const rt = new FakeRealtime();
    const clock = new ManualClock();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock, focusManager: null, onlineManager: null });
    await mount(provide(queryClient, createElement(LiveDoc)));
    const text = () => container!.querySelector('b')!.textContent;
    await eventually(() => expect(text()).toBe('open@1'));
    await act(async () => rt.joinAll());
    await eventually(() => expect(queryClient.getQueryState(keys.doc('wo', '7'))?.fetchStatus).toBe('idle'));
    expect(cache!.stats().catchUps).toBe(1);
    await act(async () => {
      rt.get('doc:wo:7').emit({ type: 'wo', id: '7', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
      clock.advance(cache!.windowMs);
    });
    await eventually(() => expect(text()).toBe('approved@2'));
  });

  test('useRealtimeDoc joins on mount, follows the id, and leaves on unmount', async () => {
    const { rt, cache } = make();
    let setId!: (id: string) => void;
    function App() {
      const [id, set] = useState('1');
      setId = set;
      return createElement(RealtimeProvider, { cache }, createElement(DocView, { id }));
    }
    await mount(createElement(App));
    expect(rt.topics()).toEqual(['doc:wo:1', 'factory:f1']);
    await act(async () => setId('2'));
    expect(rt.topics()).toEqual(['doc:wo:2', 'factory:f1']);
    expect(rt.created.filter((c) => c.topic === 'realtime:factory:f1').length).toBe(1); // kept across the change
    await act(async () => root!.unmount());
    root = null;
    expect(rt.channels).toEqual([]);
  });

  test('StrictMode mounts effects twice without a second join', async () => {
    const { rt, cache } = make();
    await mount(createElement(RealtimeProvider, { cache }, createElement(ListView)), true);
    expect(rt.topics()).toEqual(['factory:f1', 'list:grn:f1']);
    expect(rt.created.length).toBe(2);
  });

  test('useRealtimeStatus is live', async () => {
    const { rt, cache } = make();
    await mount(createElement(RealtimeProvider, { cache }, createElement(ListView), createElement(Status)));
    const text = () => container!.querySelector('#status')!.textContent;
    expect(text()).toBe('offline:2');
    await act(async () => rt.joinAll());
    expect(text()).toBe('live:2');
    await act(async () => rt.get('list:grn:f1').drop());
    expect(text()).toBe('offline:2');
  });

  test('a hook outside a provider says what is missing', async () => {
    class Boundary extends Component<{ children?: ReactNode }, { error?: string }> {
      override state: { error?: string } = {};
      static getDerivedStateFromError(e: unknown) {
        return { error: String(e) };
      }
      override render() {
        return this.state.error ? createElement('em', null, this.state.error) : this.props.children;
      }
    }
    const quiet = console.error;
    console.error = () => {};
    try {
      await mount(createElement(Boundary, null, createElement(ListView)));
    } finally {
      console.error = quiet;
    }
    expect(container!.querySelector('em')?.textContent).toMatch(/no <RealtimeProvider/);
  });
});
