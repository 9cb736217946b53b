// Test doubles for the unit suites: an in-memory realtime client whose join replies and messages the test
// delivers by hand, a manual clock, and a focus/online manager. (The integration suites use the real ones.)
import type { ChannelLike, Clock, ManagerLike, RealtimeLike } from '../src/index.js';

type Hook = (response: any) => void;

export class FakeChannel implements ChannelLike {
  state = 'closed';
  bindings: Array<{ type: string; filter: any; callback: (m: any) => void }> = [];
  payload: Record<string, any> = {};
  joinsSent: Array<Record<string, any>> = []; // the payload of every join, as sent
  private hooks: Array<{ status: string; cb: Hook }> = [];
  private statusCb: ((status: string, err?: Error) => void) | undefined;
  readonly joinPush = {
    receive: (status: string, cb: Hook) => {
      this.hooks.push({ status, cb });
      return this.joinPush;
    },
  };
  constructor(
    readonly topic: string,
    private readonly owner: FakeRealtime,
  ) {}

  on(type: string, filter: any, callback: (m: any) => void) {
    this.bindings.push({ type, filter, callback });
    return this;
  }
  subscribe(cb?: (status: string, err?: Error) => void) {
    this.statusCb = cb;
    this.state = 'joining';
    this.joinsSent.push(structuredClone(this.payload));
    return this;
  }
  updateJoinPayload(p: Record<string, any>) {
    this.payload = { ...this.payload, ...p };
  }
  async unsubscribe() {
    this.state = 'closed';
    this.owner.channels = this.owner.channels.filter((c) => c !== this);
    this.statusCb?.('CLOSED');
    return 'ok';
  }

  // ---- driven by the test
  /** The server's join reply. */
  reply(status: 'ok' | 'error', response: any = {}) {
    this.state = status === 'ok' ? 'joined' : 'errored';
    for (const h of this.hooks) if (h.status === status) h.cb(response);
    this.statusCb?.(status === 'ok' ? 'SUBSCRIBED' : 'CHANNEL_ERROR');
  }
  /** The socket dropped: the channel errors and will rejoin (the join payload is sent again). */
  drop() {
    this.state = 'errored';
    this.statusCb?.('CHANNEL_ERROR');
  }
  rejoin() {
    this.state = 'joining';
    this.joinsSent.push(structuredClone(this.payload));
  }
  /** A broadcast `invalidate` from the server. */
  emit(payload: unknown) {
    for (const b of this.bindings) if (b.type === 'broadcast' && b.filter?.event === 'invalidate') b.callback({ type: 'broadcast', event: 'invalidate', payload });
  }
  system(m: unknown) {
    for (const b of this.bindings) if (b.type === 'system') b.callback(m);
  }
}

export class FakeRealtime implements RealtimeLike {
  channels: FakeChannel[] = [];
  created: FakeChannel[] = [];
  tokens: Array<string | null | undefined> = [];
  channel(topic: string): FakeChannel {
    const full = `realtime:${topic}`;
    const existing = this.channels.find((c) => c.topic === full);
    if (existing) return existing;
    const ch = new FakeChannel(full, this);
    this.channels.push(ch);
    this.created.push(ch);
    return ch;
  }
  async removeChannel(ch: FakeChannel) {
    return ch.unsubscribe();
  }
  async setAuth(token?: string | null) {
    this.tokens.push(token);
  }
  isConnected() {
    return true;
  }
  getChannels() {
    return this.channels;
  }
  get(topic: string): FakeChannel {
    const ch = this.channels.find((c) => c.topic === `realtime:${topic}`);
    if (!ch) throw new Error(`no channel ${topic}; have ${this.channels.map((c) => c.topic)}`);
    return ch;
  }
  topics(): string[] {
    return this.channels.map((c) => c.topic.replace(/^realtime:/, '')).sort();
  }
  /** Every channel answers its join with rtcache's position. */
  joinAll(epoch = 'e1', offset = 0) {
    for (const c of this.channels) if (c.state === 'joining') c.reply('ok', { rtcache: { epoch, offset, recovered: false } });
  }
}

export class ManualClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  pending() {
    return this.timers.length;
  }
  /** Moves time forward, running due timers in order. */
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

/** query-core's focusManager / onlineManager as the cache uses them: subscribe, and a state the test sets. */
export class FakeManager implements ManagerLike {
  listeners = new Set<(state: boolean) => void>();
  subscribe(l: (state: boolean) => void) {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }
  set(state: boolean) {
    for (const l of [...this.listeners]) l(state);
  }
}

/** Lets queued microtasks (deferred channel leaves) run. */
export const microtasks = () => new Promise<void>((r) => setTimeout(r, 0));
