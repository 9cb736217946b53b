// Coalescing: bursts of events become one batch per window (mirrors include/rtcache/core/coalescer.hpp).
// De-duplicates by (type, id, action) keeping the highest version, so ten updates of one doc in 200 ms cost
// one handler call, not ten. Pure: time is passed in (`now`, integer milliseconds); no timer lives here.
import { sortPatch, type PatchEntry, type RtEvent } from './event.js';

export const MIN_WINDOW_MS = 250;
export const MAX_WINDOW_MS = 500;
export const DEFAULT_WINDOW_MS = 300;

export interface CoalescerConfig {
  windowMs?: number; // clamped to [250, 500]
  maxPending?: number; // distinct (type, id, action) keys per batch; >= 1
}

/** What one flush hands to the planner. */
export interface Batch {
  /** In order of first arrival of their document; for one document, ascending version. */
  events: RtEvent[];
  /**
   * The pending bound was hit: the batch gives up on fine-grained events and asks for a resync (refetch
   * every active view); `events` is then empty and later events of the window are absorbed.
   */
  resync: boolean;
  /** Events merged into an earlier one or absorbed by a resync. */
  absorbed: number;
  /**
   * Parallel to `events`: the lowest version merged into events[i] when the versions merged into it are
   * exactly firstVersions[i]..events[i].version, each once; null when they are not (a gap, a repeat, an
   * event without a version). Lets the planner patch a merged run onto the version just before it
   * (planner.ts, isNextVersion). Absent: each event stands for its own version only.
   */
  firstVersions?: (number | null)[];
}

// Versions tracked per entry to tell a contiguous run; a longer run is planned as a gap (invalidate).
const MAX_TRACKED_VERSIONS = 64;

export const isEmptyBatch = (b: Batch): boolean => b.events.length === 0 && !b.resync;

export const clampWindow = (ms: number | undefined): number =>
  Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, Number.isFinite(ms) ? (ms as number) : DEFAULT_WINDOW_MS));

// The merged event keeps the newer one's scalar fields; "newer" is the higher version, or on a tie or
// without versions, the later arrival.
function mergeInto(kept: RtEvent, incoming: RtEvent): RtEvent {
  const incomingNewer = !(kept.version !== undefined && incoming.version !== undefined && incoming.version < kept.version);
  const newer = incomingNewer ? incoming : kept;
  const older = incomingNewer ? kept : incoming;

  // Patch first: it reads the newer event's changedKeys before they are merged. An older value survives only
  // for a column the newer event did not change: if the newer one changed it without carrying its value,
  // the old value is wrong and the merge must not cover it.
  let patch: PatchEntry[] | undefined;
  if (newer.patch || older.patch) {
    patch = newer.patch ? [...newer.patch] : [];
    if (older.patch) {
      for (const p of older.patch) {
        const changedLater = !newer.changedKeys || newer.changedKeys.includes(p.column);
        const shadowed = patch.some((q) => q.column === p.column);
        if (!changedLater && !shadowed) patch.push(p);
      }
      sortPatch(patch);
    }
    if (patch.length === 0 && !newer.patch) patch = undefined;
  }

  let changedKeys: string[] | undefined;
  if (kept.changedKeys && incoming.changedKeys) {
    changedKeys = [...kept.changedKeys];
    for (const k of incoming.changedKeys) if (!changedKeys.includes(k)) changedKeys.push(k);
  }
  const count = kept.count !== undefined || incoming.count !== undefined ? (kept.count ?? 0) + (incoming.count ?? 0) : undefined;
  let offset = kept.offset;
  if (incoming.offset !== undefined && (offset === undefined || incoming.offset > offset)) offset = incoming.offset;
  // The highest known version survives a newer arrival that carries none.
  let version = kept.version;
  if (incoming.version !== undefined && (version === undefined || incoming.version > version)) version = incoming.version;

  const base = incomingNewer ? incoming : kept;
  const out: RtEvent = { type: base.type, id: base.id, factoryId: base.factoryId, action: base.action };
  if (changedKeys) out.changedKeys = changedKeys;
  if (version !== undefined) out.version = version;
  if (base.ts !== undefined) out.ts = base.ts;
  if (patch) out.patch = patch;
  if (offset !== undefined) out.offset = offset;
  if (count !== undefined) out.count = count;
  return out;
}

interface Entry {
  ev: RtEvent;
  docOrder: number; // arrival rank of the document (type, id)
  versions: number[] | null; // every version merged into ev, distinct; null: not a contiguous run
  merged: number; // events merged into this one (its share of the batch's `absorbed`)
}

// The lowest version of a run of distinct versions with no gap, else null.
function firstOfRun(versions: number[] | null): number | null {
  if (!versions || versions.length === 0) return null;
  const lo = Math.min(...versions);
  return Math.max(...versions) - lo + 1 === versions.length ? lo : null;
}

/**
 * The window opens with the first event of a batch and is never extended by later ones, so no burst can
 * postpone a flush beyond one window. Not shared: owned by one RealtimeCache.
 */
export class Coalescer {
  readonly windowMs: number;
  private readonly maxPending_: number;
  private entries_: Entry[] = [];
  // Index keys: "type\0id" for a document, plus "\0action" for an entry: O(1) lookups keep a batch near
  // maxPending linear, not quadratic, as in the C++ core.
  private readonly entryIndex_ = new Map<string, Entry>();
  private readonly docRanks_ = new Map<string, number>();
  private deadline_: number | null = null;
  private resync_ = false;
  private absorbed_ = 0;
  private nextDocRank_ = 0;

  constructor(config: CoalescerConfig = {}) {
    this.windowMs = clampWindow(config.windowMs);
    this.maxPending_ = Math.max(1, config.maxPending ?? 1024);
  }

  /** When the open batch is due; null when nothing is pending. */
  deadline(): number | null {
    return this.deadline_;
  }

  /** Distinct (type, id, action) keys held. */
  pending(): number {
    return this.entries_.length;
  }

  /** Adds an event arriving at `now`. */
  offer(e: RtEvent, now: number): void {
    if (this.deadline_ === null) this.deadline_ = now + this.windowMs;
    if (this.resync_) {
      this.absorbed_++;
      return;
    }
    const docKey = `${e.type}\0${e.id}`;
    const entryKey = `${docKey}\0${e.action}`;
    const existing = this.entryIndex_.get(entryKey);
    if (existing) {
      existing.ev = mergeInto(existing.ev, e);
      existing.merged++;
      const v = existing.versions;
      existing.versions =
        v && e.version !== undefined && !v.includes(e.version) && v.length < MAX_TRACKED_VERSIONS ? [...v, e.version] : null;
      this.absorbed_++;
      return;
    }
    if (this.entries_.length >= this.maxPending_) {
      // Overflow rule: the whole window degrades to one resync.
      this.absorbed_ += this.entries_.length + 1;
      this.clearEntries();
      this.resync_ = true;
      return;
    }
    let rank = this.docRanks_.get(docKey);
    if (rank === undefined) {
      rank = this.nextDocRank_++;
      this.docRanks_.set(docKey, rank);
    }
    const entry: Entry = { ev: e, docOrder: rank, versions: e.version !== undefined ? [e.version] : null, merged: 0 };
    this.entries_.push(entry);
    this.entryIndex_.set(entryKey, entry);
  }

  /** The batch if its window has elapsed at `now`, else an empty batch. */
  takeDue(now: number): Batch {
    if (this.deadline_ === null || now < this.deadline_) return { events: [], resync: false, absorbed: 0 };
    return this.flush();
  }

  private clearEntries(): void {
    this.entries_ = [];
    this.entryIndex_.clear();
    this.docRanks_.clear();
  }

  /**
   * Takes the pending events `match` selects now (a view being left: its own events, not the window's) and
   * leaves the others to their window, which stays as it was. A window degraded to a resync is taken whole.
   */
  take(match: (e: RtEvent) => boolean): Batch {
    if (this.resync_) return this.flush();
    const picked = this.entries_.filter((x) => match(x.ev));
    if (picked.length === 0) return { events: [], resync: false, absorbed: 0 };
    if (picked.length === this.entries_.length) return this.flush();
    const chosen = new Set(picked);
    this.entries_ = this.entries_.filter((x) => !chosen.has(x));
    for (const [k, x] of [...this.entryIndex_]) if (chosen.has(x)) this.entryIndex_.delete(k);
    const absorbed = picked.reduce((n, x) => n + x.merged, 0);
    this.absorbed_ -= absorbed;
    return { ...Coalescer.ordered(picked), resync: false, absorbed };
  }

  // A batch's events in order: documents by first arrival, one document's events by ascending version
  // (Array.prototype.sort is stable, so unversioned ones keep arrival order).
  private static ordered(entries: Entry[]): Pick<Batch, 'events' | 'firstVersions'> {
    const last = Number.MAX_SAFE_INTEGER;
    const sorted = [...entries].sort((a, b) =>
      a.docOrder !== b.docOrder ? a.docOrder - b.docOrder : (a.ev.version ?? last) - (b.ev.version ?? last),
    );
    return { events: sorted.map((x) => x.ev), firstVersions: sorted.map((x) => firstOfRun(x.versions)) };
  }

  /** Flushes now regardless of the window (tab visible again, before a route change). */
  flush(): Batch {
    const out: Batch = { ...Coalescer.ordered(this.entries_), resync: this.resync_, absorbed: this.absorbed_ };
    this.clearEntries();
    this.deadline_ = null;
    this.resync_ = false;
    this.absorbed_ = 0;
    this.nextDocRank_ = 0;
    return out;
  }
}
