// flushOnNavigate: apply the pending events before a route change (the playbook: "flush before route change"),
// so the screen being left is current when the next one reads the same cache. Views left by the change also
// flush their own events when they unmount; this covers the whole window at the moment navigation starts,
// back/forward included.

/** The History API host: a window (its history's pushState/replaceState, and popstate for back/forward). */
export interface HistoryHost {
  history: { pushState(...args: any[]): void; replaceState(...args: any[]): void };
  addEventListener(type: 'popstate', listener: () => void, options?: { capture?: boolean }): void;
  removeEventListener(type: 'popstate', listener: () => void, options?: { capture?: boolean }): void;
}

/** TanStack Router: router.subscribe('onBeforeNavigate', fn) (fires before the new route loads and renders). */
export interface TanStackRouterLike {
  subscribe(event: 'onBeforeNavigate', listener: (...args: any[]) => void): () => void;
}

/**
 * React Router 6.4+/7 data routers (createBrowserRouter): router.subscribe(fn) with the router state, called
 * when a navigation starts (navigation.state leaves 'idle') and when the location changes, before React renders.
 */
export interface ReactRouterLike {
  state: { location: { key?: string }; navigation: { state: string } };
  subscribe(listener: (state: { location: { key?: string }; navigation: { state: string } }) => void): () => void;
}

export type NavigationSource = { history: HistoryHost } | { tanstackRouter: TanStackRouterLike } | { reactRouter: ReactRouterLike };

/**
 * Calls rt.flush() before every navigation of `source` (default: the History API of globalThis.window).
 * Returns a function that stops it. Routers that drive the History API themselves (React Router's
 * <BrowserRouter>, wouter, a hand-written one) are covered by the default.
 */
export function flushOnNavigate(rt: { flush(): void }, source?: NavigationSource): () => void {
  const flush = () => rt.flush();
  if (source && 'tanstackRouter' in source) return source.tanstackRouter.subscribe('onBeforeNavigate', flush);
  if (source && 'reactRouter' in source) {
    const router = source.reactRouter;
    let key = router.state.location.key;
    let navigating = router.state.navigation.state !== 'idle';
    return router.subscribe((state) => {
      const started = state.navigation.state !== 'idle' && !navigating;
      navigating = state.navigation.state !== 'idle';
      // A navigation without loaders changes the location without a loading state in between.
      const moved = state.location.key !== key;
      key = state.location.key;
      if (started || moved) flush();
    });
  }
  const host = source && 'history' in source ? source.history : (globalThis as { window?: HistoryHost }).window;
  if (!host?.history) return () => {};
  const h = host.history;
  const push = h.pushState;
  const replace = h.replaceState;
  let active = true;
  const pushState = function (this: unknown, ...args: unknown[]) {
    if (active) flush();
    return push.apply(this ?? h, args as Parameters<typeof push>);
  };
  const replaceState = function (this: unknown, ...args: unknown[]) {
    if (active) flush();
    return replace.apply(this ?? h, args as Parameters<typeof replace>);
  };
  h.pushState = pushState;
  h.replaceState = replaceState;
  // Capture: at the window, capturing listeners run before the app's own popstate listeners.
  host.addEventListener('popstate', flush, { capture: true });
  return () => {
    if (!active) return;
    active = false;
    host.removeEventListener('popstate', flush, { capture: true });
    // Unwrap only if nobody wrapped on top of us since; otherwise ours stays as a pass-through.
    if (h.pushState === pushState) h.pushState = push;
    if (h.replaceState === replaceState) h.replaceState = replace;
  };
}
