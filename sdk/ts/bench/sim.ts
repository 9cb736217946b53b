// Virtual time and an in-memory realtime transport for the cost benchmark. Everything the strategies and
// @tanstack/query-core schedule runs on one VirtualClock, so a 10-minute recording replays in seconds and
// every figure is the same on every run. Not a test double of the server: it only hands the recorded
// per-channel deliveries to whatever bindings a strategy registered.
import { notifyManager, timeoutManager } from '@tanstack/query-core';
import type { ChannelLike, Clock, RealtimeLike } from '../src/index.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  every?: number;
}

/** A discrete-event clock: time moves only in runUntil(), running due timers in (time, creation) order. */
export class VirtualClock implements Clock {
  private t_ = 0;
  private seq_ = 0;
  private readonly timers_ = new Map<number, Timer>();

  now(): number {
    return this.t_;
  }
  setTimeout(fn: () => void, ms: number): number {
    const seq = ++this.seq_;
    this.timers_.set(seq, { at: this.t_ + Math.max(0, ms), seq, fn });
    return seq;
  }
  setInterval(fn: () => void, ms: number): number {
    const seq = ++this.seq_;
    const every = Math.max(1, ms);
    this.timers_.set(seq, { at: this.t_ + every, seq, fn, every });
    return seq;
  }
  clearTimeout(handle: unknown): void {
    this.timers_.delete(handle as number);
  }
  pending(): number {
    return this.timers_.size;
  }

  private next(until: number): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers_.values()) {
      if (x.at > until) continue;
      if (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq)) best = x;
    }
    return best;
  }

  /** Runs every timer due up to `until` (each followed by its promise reactions), then sets now = until. */
  async runUntil(until: number): Promise<void> {
    await drain();
    for (;;) {
      const due = this.next(until);
      if (!due) break;
      this.t_ = due.at;
      if (due.every !== undefined) due.at += due.every;
      else this.timers_.delete(due.seq);
      due.fn();
      await drain();
    }
    if (until > this.t_) this.t_ = until;
    await drain();
  }
}

/** Lets every queued promise reaction run (TanStack's notifications are microtasks while a run is active). */
export async function drain(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

// query-core's own timers (gc, retries, intervals) and its notification batching go to the clock of the run
// in progress. The provider object is installed once, so query-core never warns about a switch.
let active: VirtualClock | null = null;
const provider = {
  setTimeout: (fn: () => void, ms?: number) => requireActive().setTimeout(fn, ms ?? 0) as unknown as ReturnType<typeof setTimeout>,
  clearTimeout: (h: unknown) => active?.clearTimeout(h),
  setInterval: (fn: () => void, ms?: number) => requireActive().setInterval(fn, ms ?? 0) as unknown as ReturnType<typeof setInterval>,
  clearInterval: (h: unknown) => active?.clearTimeout(h),
};
function requireActive(): VirtualClock {
  if (!active) throw new Error('bench: query-core scheduled a timer outside a run');
  return active;
}
let installed = false;

/** Routes query-core's timers to `clock` for the duration of one run; call the result to release. */
export function useVirtualTime(clock: VirtualClock): () => void {
  if (active) throw new Error('bench: runs do not nest');
  if (!installed) {
    timeoutManager.setTimeoutProvider(provider as Parameters<typeof timeoutManager.setTimeoutProvider>[0]);
    installed = true;
  }
  notifyManager.setScheduler((cb) => queueMicrotask(cb));
  active = clock;
  return () => {
    active = null;
  };
}

type Binding = { type: string; filter: Record<string, unknown>; callback: (m: any) => void };

/** One channel: answers its join (with an rtcache position) `joinDelayMs` later on the virtual clock, at
 *  once without a clock; delivers what the replay hands it. */
export class SimChannel implements ChannelLike {
  state = 'closed';
  readonly bindings: Binding[] = [];
  private readonly joinHooks_: Array<(r: unknown) => void> = [];
  readonly joinPush = {
    receive: (status: string, cb: (r: unknown) => void) => {
      if (status === 'ok') this.joinHooks_.push(cb);
      return this.joinPush;
    },
  };
  constructor(
    readonly topic: string,
    private readonly owner_: SimRealtime,
  ) {}
  on(type: string, filter: any, callback: (m: any) => void) {
    this.bindings.push({ type, filter: filter ?? {}, callback });
    return this;
  }
  subscribe(cb?: (status: string, err?: Error) => void) {
    const join = () => {
      if (this.state !== 'joining') return;
      this.state = 'joined';
      for (const h of this.joinHooks_) h({ rtcache: { epoch: 'bench', offset: 0, recovered: false } });
      cb?.('SUBSCRIBED');
    };
    this.state = 'joining';
    if (this.owner_.clock) this.owner_.clock.setTimeout(join, this.owner_.joinDelayMs);
    else join();
    return this;
  }
  updateJoinPayload(): void {}
  async unsubscribe() {
    this.state = 'closed';
    this.owner_.forget(this);
    return 'ok';
  }
  /** A broadcast `invalidate` (the contract event), as rtcache sends it. */
  broadcast(payload: unknown): number {
    let n = 0;
    for (const b of this.bindings) {
      if (b.type === 'broadcast' && b.filter.event === 'invalidate') {
        b.callback({ type: 'broadcast', event: 'invalidate', payload });
        n++;
      }
    }
    return n;
  }
  /** A postgres_changes record for the channel's bindings. */
  postgresChange(record: unknown): number {
    let n = 0;
    for (const b of this.bindings) {
      if (b.type === 'postgres_changes') {
        b.callback(record);
        n++;
      }
    }
    return n;
  }
}

/** The client's realtime connection: one channel per topic, as realtime-js keeps them. */
export class SimRealtime implements RealtimeLike {
  private readonly channels_ = new Map<string, SimChannel>();
  constructor(
    readonly clock?: VirtualClock,
    readonly joinDelayMs = 0,
  ) {}
  channel(topic: string): SimChannel {
    let ch = this.channels_.get(topic);
    if (!ch) {
      ch = new SimChannel(topic, this);
      this.channels_.set(topic, ch);
    }
    return ch;
  }
  async removeChannel(ch: SimChannel) {
    return ch.unsubscribe();
  }
  async setAuth(): Promise<void> {}
  isConnected() {
    return true;
  }
  getChannels(): SimChannel[] {
    return [...this.channels_.values()];
  }
  forget(ch: SimChannel): void {
    if (this.channels_.get(ch.topic) === ch) this.channels_.delete(ch.topic);
  }
  /** The joined channel of a topic, if any. */
  joined(topic: string): SimChannel | undefined {
    const ch = this.channels_.get(topic);
    return ch && ch.state === 'joined' ? ch : undefined;
  }
}
