// @vitest-environment jsdom
// flushOnNavigate (issue 12, finding 3): pending events are applied before a route change, for the History API
// (pushState, replaceState and back/forward's popstate) and for TanStack Router and React Router's data routers.
import { QueryClient } from '@tanstack/query-core';
import { afterEach, describe, expect, test } from 'vitest';
import { createRealtimeCache, flushOnNavigate, keys, type RealtimeCache } from '../src/index.js';
import { FakeRealtime, ManualClock } from './fakes.js';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

function counting() {
  let flushes = 0;
  return { rt: { flush: () => void flushes++ }, flushes: () => flushes };
}

describe('flushOnNavigate: the History API', () => {
  test('pushState and replaceState flush first; popstate (back/forward) flushes before the app\'s own listener', () => {
    const c = counting();
    const order: string[] = [];
    const appListener = () => order.push(`app saw popstate after ${c.flushes()} flushes`);
    window.addEventListener('popstate', appListener);
    stops.push(() => window.removeEventListener('popstate', appListener));
    stops.push(flushOnNavigate(c.rt));
    history.pushState(null, '', '/a');
    expect(c.flushes()).toBe(1);
    expect(location.pathname).toBe('/a');
    history.replaceState(null, '', '/b');
    expect(c.flushes()).toBe(2);
    window.dispatchEvent(new PopStateEvent('popstate'));
    expect(c.flushes()).toBe(3);
    expect(order).toEqual(['app saw popstate after 3 flushes']);
  });

  test('the returned function stops it and restores history', () => {
    const c = counting();
    const push = history.pushState;
    const stop = flushOnNavigate(c.rt, { history: window });
    expect(history.pushState).not.toBe(push);
    stop();
    stop();
    expect(history.pushState).toBe(push);
    history.pushState(null, '', '/c');
    window.dispatchEvent(new PopStateEvent('popstate'));
    expect(c.flushes()).toBe(0);
  });

  test('back to the previous screen applies the events pending for it at once (a real cache)', () => {
    const qc = new QueryClient();
    const realtime = new FakeRealtime();
    const clock = new ManualClock();
    const cache: RealtimeCache = createRealtimeCache({ queryClient: qc, realtime, factoryId: 'f1', clock, focusManager: null, onlineManager: null });
    stops.push(() => void cache.dispose());
    stops.push(flushOnNavigate(cache));
    cache.watchList('wo');
    realtime.joinAll();
    qc.setQueryData(keys.doc('wo', '1'), { status: 'open', version: 1 });
    realtime.get('list:wo:f1').emit({ type: 'wo', id: '1', factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } });
    window.dispatchEvent(new PopStateEvent('popstate'));
    expect(qc.getQueryData(keys.doc('wo', '1'))).toEqual({ status: 'approved', version: 2 });
  });
});

describe('flushOnNavigate: routers', () => {
  test('TanStack Router: onBeforeNavigate flushes', () => {
    const c = counting();
    const listeners = new Map<string, () => void>();
    const router = {
      subscribe(event: 'onBeforeNavigate', fn: () => void) {
        listeners.set(event, fn);
        return () => listeners.delete(event);
      },
    };
    const stop = flushOnNavigate(c.rt, { tanstackRouter: router });
    listeners.get('onBeforeNavigate')!();
    expect(c.flushes()).toBe(1);
    stop();
    expect(listeners.size).toBe(0);
  });

  test('React Router (data router): a navigation starting, or a location changing without loaders, flushes once', () => {
    const c = counting();
    type State = { location: { key?: string }; navigation: { state: string } };
    let listener: ((s: State) => void) | null = null;
    const router = {
      state: { location: { key: 'a' }, navigation: { state: 'idle' } } as State,
      subscribe(fn: (s: State) => void) {
        listener = fn;
        return () => {
          listener = null;
        };
      },
    };
    const stop = flushOnNavigate(c.rt, { reactRouter: router });
    listener!({ location: { key: 'a' }, navigation: { state: 'loading' } }); // loaders of the next route start
    expect(c.flushes()).toBe(1);
    listener!({ location: { key: 'b' }, navigation: { state: 'idle' } }); // the navigation completes
    expect(c.flushes()).toBe(2);
    listener!({ location: { key: 'b' }, navigation: { state: 'idle' } }); // a fetcher, a revalidation: no navigation
    expect(c.flushes()).toBe(2);
    listener!({ location: { key: 'c' }, navigation: { state: 'idle' } }); // no loaders: straight to the new location
    expect(c.flushes()).toBe(3);
    stop();
    expect(listener).toBeNull();
  });
});
