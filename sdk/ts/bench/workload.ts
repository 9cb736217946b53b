// The recorded workload the cost benchmark replays: what rtcache delivered, per channel, to one client's
// subscriptions, plus the commits behind it (the ground truth a view must come to show). JSON lines:
//   {"k":"meta", ...}                         first line: scenario, views, sizes, initial state
//   {"k":"commit","ts":..., ...}              a committed change to a viewed doc or to a viewed list's rows
//   {"k":"ev","at":...,"ch":"doc:wo:x","ev":{...}}  a contract event delivered on a channel at `at` ms
// Committed gzipped (bench/workloads/*.jsonl.gz); `zcat` shows the text.
// Times are integer milliseconds of virtual time; `ev.ts` is the commit time as RFC 3339.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { EventPayload } from '../src/index.js';

export interface Row {
  [column: string]: string | number;
}

export interface PanelSpec {
  /** The factory this panel of the app shows (its realtime scope). */
  factory: string;
  docs: Array<{ type: string; id: string }>;
  /** List heads shown (page 1 of list:<type>:<factory>). */
  lists: string[];
}

export interface Meta {
  k: 'meta';
  name: string;
  seed: number;
  /** Replay ends here (every fetch has settled long before). */
  endMs: number;
  epochIso: string;
  listPageRows: number;
  listRowBytes: number;
  listEnvelopeBytes: number;
  docBytesMin: number;
  docBytesMax: number;
  /** The server's list_row_limit (rows per transaction that still get list: messages). */
  listRowLimit: number;
  panels: PanelSpec[];
  initial: {
    docs: Array<{ type: string; id: string; factory: string; version: number; row: Row }>;
    /** Newest first. */
    lists: Array<{ type: string; factory: string; ids: string[] }>;
  };
}

/** One committed change. A move is a delete in the old factory and a create in the new one (same ts). */
export type Commit =
  | { k: 'commit'; ts: number; op: 'update'; type: string; id: string; factory: string; version: number; row: Row }
  | { k: 'commit'; ts: number; op: 'create'; type: string; ids: string[]; factory: string; version?: number; row?: Row }
  | { k: 'commit'; ts: number; op: 'delete'; type: string; id: string; factory: string };

export interface Delivery {
  k: 'ev';
  at: number;
  ch: string;
  ev: EventPayload;
}

export interface Workload {
  meta: Meta;
  commits: Commit[];
  deliveries: Delivery[];
}

export function parseWorkload(text: string, source = 'workload'): Workload {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`${source}: empty`);
  const meta = JSON.parse(lines[0]!) as Meta;
  if (meta.k !== 'meta') throw new Error(`${source}:1: expected the meta line first`);
  const commits: Commit[] = [];
  const deliveries: Delivery[] = [];
  for (let i = 1; i < lines.length; i++) {
    const o = JSON.parse(lines[i]!) as Commit | Delivery;
    if (o.k === 'commit') commits.push(o);
    else if (o.k === 'ev') deliveries.push(o);
    else throw new Error(`${source}:${i + 1}: unknown record kind`);
  }
  // Stable: equal times keep file order (a transaction's rows, a channel's offsets).
  commits.sort((a, b) => a.ts - b.ts);
  deliveries.sort((a, b) => a.at - b.at);
  return { meta, commits, deliveries };
}

/** Reads a .jsonl workload, or a .jsonl.gz one (the committed files are gzipped: ~10x smaller). */
export function loadWorkload(path: string): Workload {
  const bytes = readFileSync(path);
  return parseWorkload((path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8'), path);
}

export function formatWorkload(w: Workload): string {
  const recs: Array<Commit | Delivery> = [...w.commits, ...w.deliveries];
  const time = (r: Commit | Delivery) => (r.k === 'commit' ? r.ts : r.at);
  const order = new Map(recs.map((r, i) => [r, i]));
  recs.sort((a, b) => time(a) - time(b) || order.get(a)! - order.get(b)!);
  return [JSON.stringify(w.meta), ...recs.map((r) => JSON.stringify(r))].join('\n') + '\n';
}
