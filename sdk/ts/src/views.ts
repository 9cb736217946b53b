// Views and their join gate (mirrors the C++ SDK's sync_engine: engine_config::first_fetch_wait). A view is
// what one screen shows — a doc, or a list — with the channels that keep it current. A change committed
// after a fetch read the data but before the view's channels were live on the server reaches neither the
// data nor the stream, so:
//  - a fetch of a view's query made through realtimeQueryOptions waits until its channels are joined, at
//    most `waitMs` (the gate): one fetch per view open in the common case;
//  - past that bound (realtime slow or down) it fetches, and the view is fetched once more when the
//    channels are live (a catch-up);
//  - data the view already held when it opened, and any fetch not made through the gate (the two-call API's
//    own query), predates the channels too: caught up the same way.
// Time is injected (`now`); the owner (cache.ts) calls update() when channels change and at deadlines.
import type { Query } from '@tanstack/query-core';

export type ViewSpec =
  | { kind: 'doc'; type: string; id: string }
  /** `factoryId` absent: the cache's current factory (watchList), which setFactory moves. */
  | { kind: 'list'; type: string; factoryId?: string };

export class View {
  topics: string[] = [];
  live = false;
  waited = false; // the wait ran out before the channels were live
  early = false; // data or a fetch from before the view opened
  predated = false; // a fetch ran while the channels were not live
  deadline = 0;
  readonly held: Array<(go: boolean) => void> = []; // fetches waiting at the gate: go, or drop the fetch

  constructor(
    readonly spec: ViewSpec,
    /** The query of a view opened by realtimeQueryOptions; null for watchDoc/watchList (matched by key). */
    readonly query: Query | null,
    /** How long its first fetch waits for the joins; `gate: false` views neither wait nor catch up. */
    readonly waitMs: number,
    readonly gate: boolean,
  ) {}

  private release(go = true): void {
    for (const r of this.held.splice(0)) r(go);
  }

  /** The channels are live now. Returns whether the view must be fetched once more (a catch-up). */
  goLive(): boolean {
    this.live = true;
    // A fetch held at the gate reads after this moment: it is the view's first fetch, nothing to catch up.
    const catchUp = this.gate && (this.early || this.predated) && this.held.length === 0;
    this.release();
    return catchUp;
  }

  /** The wait ran out: held fetches go ahead (and predate the channels). */
  expire(): void {
    this.waited = true;
    if (this.held.length > 0) this.predated = true;
    this.release();
  }

  /** The view is gone: a fetch still waiting for its joins is dropped (`go` false), as nothing shows it. */
  close(): void {
    this.live = true;
    this.release(false);
  }

  /** The cache is disposed: waiting fetches go ahead without it. */
  abandon(): void {
    this.live = true;
    this.release(true);
  }
}

export interface ViewHooks {
  now(): number;
  isJoined(topic: string): boolean;
  /** Refetches what `views` show, each query once, after any fetch in flight. */
  catchUp(views: View[]): void;
}

/** The open views. Bounded by what the app shows: one entry per open view. */
export class Views {
  private readonly views_ = new Set<View>();
  private readonly byQuery_ = new Map<Query, View>();

  constructor(private readonly hooks: ViewHooks) {}

  all(): IterableIterator<View> {
    return this.views_.values();
  }

  ofQuery(q: Query): View | undefined {
    return this.byQuery_.get(q);
  }

  /** Adds a view whose `topics` are set and acquired; `early`: data or a fetch predating it. */
  open(view: View, early: boolean): void {
    this.views_.add(view);
    if (view.query) this.byQuery_.set(view.query, view);
    view.early = early;
    view.deadline = this.hooks.now() + view.waitMs;
    if (!view.gate || this.liveNow(view)) {
      view.live = true; // channels another view holds already deliver whatever is committed from now on
      return;
    }
    if (view.waitMs <= 0) view.waited = true;
  }

  close(view: View): void {
    view.close();
    this.views_.delete(view);
    if (view.query && this.byQuery_.get(view.query) === view) this.byQuery_.delete(view.query);
  }

  /**
   * For a fetch of `q` about to start: a promise to wait on while its view's channels join (true: fetch now;
   * false: the view closed first, drop the fetch), or null to fetch now. A fetch with no open view (a
   * prefetch) has no stream to line up with and goes at once.
   */
  hold(q: Query): Promise<boolean> | null {
    const view = this.byQuery_.get(q);
    if (!view || view.live) return null;
    if (view.waited) {
      view.predated = true;
      return null;
    }
    return new Promise<boolean>((resolve) => view.held.push(resolve));
  }

  /** Whether a fetch of `q` is waiting at its view's gate (it has read nothing yet). */
  isHeld(q: Query): boolean {
    const view = this.byQuery_.get(q);
    return view !== undefined && view.held.length > 0;
  }

  /** A fetch started outside the gate (the two-call API): it predates the channels of a waiting view. */
  fetchStarted(q: Query, matches: (view: View, q: Query) => boolean): void {
    for (const v of this.views_) {
      if (!v.live && v.query === null && matches(v, q)) v.predated = true;
    }
  }

  /**
   * Channels changed or time passed: views whose channels are live go live, waits that ran out expire.
   * The views to fetch once more are handed over together, so views showing one query fetch it once.
   */
  update(): void {
    const now = this.hooks.now();
    const catchUps: View[] = [];
    for (const v of [...this.views_]) {
      if (v.live) continue;
      if (this.liveNow(v)) {
        if (v.goLive()) catchUps.push(v);
      } else if (!v.waited && now >= v.deadline) {
        v.expire();
      }
    }
    if (catchUps.length > 0) this.hooks.catchUp(catchUps);
  }

  /** The earliest wait still running, for the owner's timer. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const v of this.views_) {
      if (!v.live && !v.waited && (next === null || v.deadline < next)) next = v.deadline;
    }
    return next;
  }

  clear(): void {
    for (const v of this.views_) v.abandon();
    this.views_.clear();
    this.byQuery_.clear();
  }

  private liveNow(v: View): boolean {
    return v.topics.length > 0 && v.topics.every((t) => this.hooks.isJoined(t));
  }
}
