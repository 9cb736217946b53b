// Transport: the realtime channels a RealtimeCache holds, over a realtime-js RealtimeClient (or a
// supabase-js client's `.realtime`). One channel per topic, shared by every watch that needs it and left
// when the last one goes; each channel remembers its resume position ({epoch, offset}) and sends it with
// every rejoin, and reports whether the server could replay what was missed.

/** The part of a realtime-js RealtimeChannel this SDK uses (method syntax: real channels fit it). */
export interface ChannelLike {
  topic: string;
  state: string;
  on(type: string, filter: any, callback: (message: any) => void): unknown;
  subscribe(callback?: (status: string, err?: Error) => void, timeout?: number): unknown;
  updateJoinPayload(payload: Record<string, any>): void;
  unsubscribe(timeout?: number): Promise<unknown>;
  joinPush: { receive(status: string, callback: (response: any) => void): unknown };
}

/** The part of a realtime-js RealtimeClient this SDK uses. */
export interface RealtimeLike {
  channel(topic: string, params?: any): ChannelLike;
  removeChannel(channel: any): Promise<unknown>;
  setAuth(token?: string | null): Promise<void>;
  isConnected(): boolean;
  getChannels?(): ChannelLike[];
}

/** A RealtimeClient, or a SupabaseClient (its `.realtime` is used). */
export type RealtimeSource = RealtimeLike | { realtime: RealtimeLike };

export function realtimeOf(source: RealtimeSource): RealtimeLike {
  const s = source as { realtime?: RealtimeLike } & Partial<RealtimeLike>;
  if (s.realtime && typeof s.realtime.channel === 'function') return s.realtime;
  if (typeof s.channel === 'function') return source as RealtimeLike;
  throw new TypeError('realtime: expected a RealtimeClient or a SupabaseClient');
}

export interface ResumePosition {
  epoch: string;
  offset: number;
}

/** What rtcache's join reply carries: `rtcache: {epoch, offset, recovered}`. */
export function joinPosition(response: unknown): { epoch?: string; offset?: number; recovered?: boolean } | undefined {
  const r = (response as { rtcache?: unknown } | null | undefined)?.rtcache as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') return undefined;
  return {
    epoch: typeof r.epoch === 'string' ? r.epoch : undefined,
    offset: typeof r.offset === 'number' ? r.offset : undefined,
    recovered: typeof r.recovered === 'boolean' ? r.recovered : undefined,
  };
}

export interface PoolEvents {
  /** A broadcast `invalidate` payload arrived on `topic`. */
  message(topic: string, payload: unknown): void;
  /**
   * The channel rejoined (after a drop, a restart or a resubscribe) and the server could not replay what was
   * missed (`recovered: false`, or no rtcache position at all as with plain Supabase): refetch once.
   */
  lost(topic: string): void;
  /** Some channel's state changed (joined, errored, closed, refused). */
  changed(): void;
  /**
   * An event arrived whose `offset` is not above the last one this channel's stream delivered (a replay
   * overlap, a re-delivery): it was already applied and is dropped before it reaches the policy.
   */
  duplicate?(topic: string): void;
}

interface Held {
  topic: string;
  refs: number;
  channel: ChannelLike | null;
  position?: ResumePosition; // sent with every (re)join
  // The highest offset this channel's current stream delivered. Offsets rise per channel but need not be
  // contiguous, so only `<=` tells a repeat; a stream that restarts (a join not recovered) resets it.
  lastOffset?: number;
  joins: number; // successful joins of this topic's channels
  refused: boolean; // the server refused the join or revoked the channel
  lastRecovered?: boolean;
}

export interface PoolSnapshot {
  channels: number;
  joined: number;
  recovered?: boolean;
}

/**
 * Holds channels by topic with reference counts. Not thread-safe (JavaScript is single-threaded); every
 * callback it registers lives on a channel it created, so removing the channel removes them all.
 */
export class ChannelPool {
  private readonly held_ = new Map<string, Held>();
  private readonly removals_ = new Map<string, Promise<unknown>>();
  private lastRecovered_: boolean | undefined;
  private closed_ = false;

  constructor(
    private readonly realtime_: RealtimeLike,
    private readonly events_: PoolEvents,
  ) {}

  topics(): string[] {
    return [...this.held_.keys()];
  }

  snapshot(): PoolSnapshot {
    let joined = 0;
    for (const h of this.held_.values()) if (h.channel?.state === 'joined') joined++;
    return { channels: this.held_.size, joined, recovered: this.lastRecovered_ };
  }

  /** Whether the channel of `topic` is held and joined (its stream is live on the server). */
  isJoined(topic: string): boolean {
    return this.held_.get(topic)?.channel?.state === 'joined';
  }

  /**
   * Whether any held channel still owes a join reply: joining, or errored after a drop and waiting for
   * realtime-js to rejoin it (a channel the server refused or closed owes none).
   */
  rejoining(): boolean {
    for (const h of this.held_.values()) {
      const st = h.channel?.state;
      if (st !== undefined && st !== 'joined' && st !== 'closed' && !h.refused) return true;
    }
    return false;
  }

  position(topic: string): ResumePosition | undefined {
    const p = this.held_.get(topic)?.position;
    return p ? { ...p } : undefined;
  }

  acquire(topic: string): void {
    if (this.closed_) return;
    const existing = this.held_.get(topic);
    if (existing) {
      existing.refs++;
      return;
    }
    const held: Held = { topic, refs: 1, channel: null, joins: 0, refused: false };
    this.held_.set(topic, held);
    this.openWhenFree(held);
  }

  // Leaving is deferred by a microtask, so an unmount followed at once by a mount of the same view (React
  // StrictMode, a re-render with the same keys) keeps the channel instead of leaving and rejoining it.
  release(topic: string): void {
    const held = this.held_.get(topic);
    if (!held || held.refs === 0) return;
    held.refs--;
    if (held.refs > 0) return;
    queueMicrotask(() => {
      if (held.refs > 0 || this.held_.get(topic) !== held) return;
      this.held_.delete(topic);
      this.remove(held);
      this.events_.changed();
    });
  }

  /** Recreates every channel the server refused or closed (after a new token). */
  async resubscribeRefused(): Promise<number> {
    let n = 0;
    for (const held of [...this.held_.values()]) {
      const st = held.channel?.state;
      if (held.channel && (held.refused || st === 'closed' || st === 'errored')) {
        n++;
        this.remove(held);
        held.refused = false;
        this.openWhenFree(held);
      }
    }
    if (n) this.events_.changed();
    return n;
  }

  /** Leaves every channel; later acquires are ignored. */
  async close(): Promise<void> {
    this.closed_ = true;
    for (const held of this.held_.values()) this.remove(held);
    this.held_.clear();
    await Promise.all([...this.removals_.values()]);
  }

  private remove(held: Held): void {
    const ch = held.channel;
    held.channel = null;
    if (!ch) return;
    // Leave, not removeChannel: that disconnects the shared socket when it holds no channel, which would
    // strand a channel another watch opens a moment later. A channel whose leave was refused is removed
    // the hard way.
    const done = ch
      .unsubscribe()
      .then(() => {
        if (this.realtime_.getChannels?.().includes(ch)) return this.realtime_.removeChannel(ch);
        return undefined;
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.removals_.get(held.topic) === done) this.removals_.delete(held.topic);
      });
    this.removals_.set(held.topic, done);
  }

  // realtime-js hands back the existing channel of a topic until it has left, so a new one waits for that.
  private openWhenFree(held: Held): void {
    const pending = this.removals_.get(held.topic);
    if (pending) {
      void pending.then(() => {
        if (!this.closed_ && this.held_.get(held.topic) === held && held.refs > 0 && !held.channel) this.openWhenFree(held);
      });
      return;
    }
    this.open(held);
  }

  private open(held: Held): void {
    const ch = this.realtime_.channel(held.topic, { config: { broadcast: { self: false, ack: false }, private: false } });
    held.channel = ch;
    const mine = () => held.channel === ch;
    ch.on('broadcast', { event: 'invalidate' }, (m: { payload?: unknown }) => {
      if (!mine()) return;
      const offset = (m?.payload as { offset?: unknown } | undefined)?.offset;
      if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) {
        if (held.lastOffset !== undefined && offset <= held.lastOffset) {
          this.events_.duplicate?.(held.topic);
          return;
        }
        held.lastOffset = offset;
        if (held.position && offset > held.position.offset) {
          held.position = { epoch: held.position.epoch, offset };
          ch.updateJoinPayload({ rtcache: held.position });
        }
      }
      this.events_.message(held.topic, m?.payload);
    });
    ch.on('system', {}, (m: { status?: string }) => {
      if (!mine()) return;
      if (m?.status === 'error') {
        held.refused = true;
        this.events_.changed();
      }
    });
    ch.joinPush.receive('ok', (response: unknown) => {
      if (!mine()) return;
      this.onJoined(held, ch, response);
    });
    ch.joinPush.receive('error', () => {
      if (!mine()) return;
      held.refused = true;
      this.events_.changed();
    });
    // Resume where this topic left off (a resubscribe after a refusal keeps its position).
    if (held.position) ch.updateJoinPayload({ rtcache: held.position });
    ch.subscribe(() => {
      if (mine()) this.events_.changed();
    });
  }

  private onJoined(held: Held, ch: ChannelLike, response: unknown): void {
    const asked = held.position !== undefined || held.joins > 0;
    held.joins++;
    held.refused = false;
    const r = joinPosition(response);
    const recovered = r?.recovered === true;
    if (!recovered) {
      // A new stream: it starts at the server's current offset (or, without an rtcache position, nowhere).
      if (r?.epoch !== undefined) held.position = { epoch: r.epoch, offset: r.offset ?? 0 };
      held.lastOffset = r?.epoch !== undefined ? (r.offset ?? 0) : undefined;
    }
    if (held.position) ch.updateJoinPayload({ rtcache: held.position });
    if (asked) {
      held.lastRecovered = recovered;
      this.lastRecovered_ = recovered;
      if (!recovered) this.events_.lost(held.topic);
    }
    this.events_.changed();
  }
}
