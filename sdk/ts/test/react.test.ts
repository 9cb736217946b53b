// @vitest-environment jsdom
// The React layer: hooks watch on mount and dispose on unmount, StrictMode's double effects cost no extra
// join, and useRealtimeStatus is live. Rendered with react-dom under jsdom; realtime is the in-memory fake.
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { Component, createElement, StrictMode, useState, type ReactNode } from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createRealtimeCache, keys, type RealtimeCache } from '../src/index.js';
import { RealtimeProvider, useRealtimeDoc, useRealtimeList, useRealtimeStatus } from '../src/react.js';
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

function mount(ui: ReactNode, strict = false) {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
  return act(async () => root!.render(strict ? createElement(StrictMode, null, ui) : ui));
}

function make() {
  const rt = new FakeRealtime();
  cache = createRealtimeCache({ queryClient: new QueryClient(), realtime: rt, factoryId: 'f1', clock: new ManualClock() });
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

function LiveDoc() {
  useRealtimeDoc('wo', '7');
  const q = useQuery({ queryKey: keys.doc('wo', '7'), queryFn: async () => ({ status: 'open', version: 1 }) });
  return createElement('b', null, q.data ? `${q.data.status}@${q.data.version}` : 'loading');
}

describe('React hooks', () => {
  test('with @tanstack/react-query: a mounted view shows a patch from an event', async () => {
    const rt = new FakeRealtime();
    const clock = new ManualClock();
    const queryClient = new QueryClient();
    cache = createRealtimeCache({ queryClient, realtime: rt, factoryId: 'f1', clock });
    await mount(
      createElement(QueryClientProvider, { client: queryClient }, createElement(RealtimeProvider, { cache }, createElement(LiveDoc))),
    );
    const text = () => container!.querySelector('b')!.textContent;
    await act(() => vi.waitFor(() => expect(text()).toBe('open@1')));
    await act(async () => {
      rt.joinAll();
      rt.get('doc:wo:7').emit({ type: 'wo', id: '7', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
      clock.advance(cache!.windowMs);
    });
    expect(cache!.stats()).toMatchObject({ patched: 1 });
    await act(() => vi.waitFor(() => expect(text()).toBe('approved@2')));
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
