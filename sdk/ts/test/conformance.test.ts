// Runs every case of the shared conformance vectors (spec/vectors/, format: spec/vectors/README.md) through
// the SDK's public policy API, as src/core/conformance_test.cpp runs them through the C++ core, and the
// `client` scenarios through the whole SDK on a real QueryClient (test/client_runner.ts), as
// src/client/conformance_test.cpp runs them through the C++ SDK on its query_cache. No case is skipped: the
// test decoder reads raw text (duplicate keys included), so `raw_text` cases run too.
import { describe, expect, test } from 'vitest';
import {
  CacheSnapshot,
  channelKey,
  Coalescer,
  checkVersion,
  DocTypeRegistry,
  encodeEvent,
  EventDecoder,
  eventFrom,
  FactoryScope,
  formatChannelKey,
  keyJson,
  keys,
  parseChannelKey,
  patchValues,
  planBatch,
  planEvent,
  type Batch,
  type CodecLimits,
  type Operation,
  type RtEvent,
} from '../src/index.js';
import { runClientVector } from './client_runner.js';
import { decodeBatchText, decodeText } from './text_decoder.js';
import { loadCorpus, MIN_TOTAL_CASES, SUITES, type VectorCase } from './vectors.js';

const corpus = loadCorpus();
const casesOf = (suite: string) => corpus.cases.filter((c) => c.suite === suite);

function registryFor(c: VectorCase): DocTypeRegistry {
  const types = c.data.docTypes ?? c.meta.docTypes;
  if (!types) return DocTypeRegistry.defaults();
  const r = DocTypeRegistry.from(types);
  if (!r.ok) throw new Error(`vector schema: docTypes refused: ${r.error.message}`);
  return r.value;
}

const scopeFrom = (s: any): FactoryScope => (s.unscoped === true ? FactoryScope.unscoped() : FactoryScope.of(s.factories));

const EVENT_FIELDS = ['type', 'id', 'factoryId', 'action', 'changedKeys', 'version', 'ts', 'patch', 'offset', 'count'];
// Built field by field (not through the decoder), so a codec bug does not hide a planner result.
function eventFromJson(o: any): RtEvent {
  for (const k of Object.keys(o)) if (!EVENT_FIELDS.includes(k)) throw new Error(`vector schema: unknown event field "${k}"`);
  return eventFrom(o);
}

// An event as a vector writes it; changedKeys sorted (coalesce vectors compare them as a set).
function eventToJson(e: RtEvent): Record<string, unknown> {
  const o: Record<string, unknown> = { type: e.type, id: e.id, factoryId: e.factoryId, action: e.action };
  if (e.changedKeys) o.changedKeys = [...e.changedKeys].sort();
  if (e.version !== undefined) o.version = e.version;
  if (e.ts !== undefined) o.ts = e.ts;
  if (e.patch) o.patch = patchValues(e.patch);
  if (e.offset !== undefined) o.offset = e.offset;
  if (e.count !== undefined) o.count = e.count;
  return o;
}

function normalizeEventJson(o: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue;
    out[k] = k === 'changedKeys' ? [...(v as string[])].sort() : v;
  }
  return out;
}

function opToJson(op: Operation): Record<string, unknown> {
  switch (op.op) {
    case 'invalidate':
      return op.afterFetch ? { op: op.op, key: op.key, afterFetch: true } : { op: op.op, key: op.key };
    case 'patch': {
      const o: Record<string, unknown> = { op: op.op, key: op.key, set: patchValues(op.set) };
      if (op.version !== undefined) o.version = op.version;
      return o;
    }
    case 'refetch_list_head':
      return { op: op.op, key: op.key };
    case 'resync':
      return { op: op.op };
    case 'drop':
      return { op: op.op, reason: op.reason };
  }
}

const normalizeOps = (ops: any[]) =>
  ops.map((o) => {
    const c = { ...o };
    if (c.afterFetch === false) delete c.afterFetch;
    if (c.version === null) delete c.version;
    return c;
  });

const json = (v: unknown) => JSON.parse(JSON.stringify(v));

describe('conformance corpus', () => {
  test('every file follows the format, with unique safe names', () => {
    expect(corpus.problems).toEqual([]);
  });
  test('every suite is present, with at least 50 cases in total', () => {
    for (const s of SUITES) expect(corpus.perSuite.get(s) ?? 0, `suite ${s}`).toBeGreaterThan(0);
    expect(corpus.cases.length).toBeGreaterThanOrEqual(MIN_TOTAL_CASES);
  });
});

describe('channel_keys', () => {
  test.each(casesOf('channel_keys').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const types = registryFor(c);
    if (c.data.format) {
      const p = c.data.format;
      const key =
        p.kind === 'factory' ? channelKey.factory(p.factoryId) : p.kind === 'doc' ? channelKey.doc(p.type, p.id) : channelKey.list(p.type, p.factoryId);
      expect(formatChannelKey(key)).toBe(c.data.text);
      const back = parseChannelKey(c.data.text, types);
      expect(back.ok, JSON.stringify(back)).toBe(true);
      if (back.ok) expect(back.value).toEqual(key);
      return;
    }
    const parsed = parseChannelKey(c.data.input, types);
    if (c.data.error) {
      expect(parsed.ok, `accepted: ${JSON.stringify(parsed)}`).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.code, parsed.error.message).toBe(c.data.error);
        expect(parsed.error.message).not.toBe('');
      }
      return;
    }
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    if (!parsed.ok) return;
    const want = c.data.key;
    expect(parsed.value).toEqual({ kind: want.kind, type: want.type ?? '', id: want.id ?? '', factoryId: want.factoryId ?? '' });
    expect(formatChannelKey(parsed.value)).toBe(c.data.input);
  });
});

describe('cache_keys', () => {
  test.each(casesOf('cache_keys').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const a = c.data.args;
    let key: readonly unknown[];
    if (c.data.fn === 'doc') key = keys.doc(a.type, a.id);
    else if (c.data.fn === 'list') key = a.page == null ? keys.list(a.type, a.factoryId) : keys.list(a.type, a.factoryId, a.page);
    else if (c.data.fn === 'listHeads') key = keys.listHeads(a.type, a.factoryId);
    else throw new Error(`vector schema: unknown fn ${c.data.fn}`);
    expect(keyJson(key)).toBe(c.data.json);
    expect(key).toEqual(c.data.key);
  });
});

function limitsFrom(o: Record<string, number> | undefined): Partial<CodecLimits> {
  const known = ['maxEventBytes', 'maxBatchBytes', 'maxBatchItems', 'maxChangedKeys', 'maxPatchEntries', 'maxColumnLength', 'maxTsLength', 'maxDepth'];
  for (const k of Object.keys(o ?? {})) if (!known.includes(k)) throw new Error(`vector schema: unknown limit ${k}`);
  return (o ?? {}) as Partial<CodecLimits>;
}

// An accepted event encodes to `canonical`, and the canonical text decodes to the same event again.
function expectCanonical(decoder: EventDecoder, e: RtEvent, canonical: string) {
  expect(encodeEvent(e)).toBe(canonical);
  const again = decodeText(decoder, canonical);
  expect(again.ok, `canonical form refused: ${JSON.stringify(again)}`).toBe(true);
  if (!again.ok) return;
  expect(again.value).toEqual(e);
  expect(encodeEvent(again.value)).toBe(canonical);
  // The already-parsed path (a broadcast payload, as realtime-js hands it over) accepts the same event. Compared
  // as JSON values: JSON.parse moves integer-like keys of nested objects to the front, which text cannot undo.
  const viaPayload = decoder.validate(JSON.parse(canonical));
  expect(viaPayload.ok, JSON.stringify(viaPayload)).toBe(true);
  if (viaPayload.ok) expect(JSON.parse(encodeEvent(viaPayload.value))).toEqual(JSON.parse(canonical));
}

describe('events', () => {
  test.each(casesOf('events').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const decoder = new EventDecoder(registryFor(c), limitsFrom(c.data.limits));
    if ('batchInput' in c.data) {
      const items = decodeBatchText(decoder, c.data.batchInput);
      if (c.data.error) {
        expect(items.ok, `batch accepted: ${JSON.stringify(items)}`).toBe(false);
        if (!items.ok) expect(items.error.code, items.error.message).toBe(c.data.error);
        return;
      }
      expect(items.ok, JSON.stringify(items)).toBe(true);
      if (!items.ok) return;
      expect(items.value.length).toBe(c.data.items.length);
      c.data.items.forEach((w: any, i: number) => {
        const got = items.value[i]!;
        expect(got.index).toBe(w.index);
        if (w.error) {
          expect(got.outcome.ok, `item ${i} accepted`).toBe(false);
          if (!got.outcome.ok) expect(got.outcome.error.code, got.outcome.error.message).toBe(w.error);
        } else {
          expect(got.outcome.ok, `item ${i}: ${JSON.stringify(got.outcome)}`).toBe(true);
          if (got.outcome.ok) expectCanonical(decoder, got.outcome.value, w.canonical);
        }
      });
      return;
    }
    const decoded = decodeText(decoder, c.data.input);
    if (c.data.error) {
      expect(decoded.ok, `accepted as ${decoded.ok ? encodeEvent(decoded.value) : ''}`).toBe(false);
      if (!decoded.ok) {
        expect(decoded.error.code, decoded.error.message).toBe(c.data.error);
        expect(decoded.error.message).not.toBe('');
      }
      return;
    }
    expect(decoded.ok, JSON.stringify(decoded)).toBe(true);
    if (decoded.ok) expectCanonical(decoder, decoded.value, c.data.canonical);
  });
});

describe('version', () => {
  test.each(casesOf('version').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    expect(checkVersion(c.data.incoming, c.data.cached)).toBe(c.data.verdict);
  });
});

describe('scope', () => {
  test.each(casesOf('scope').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const scope = scopeFrom(c.data.scope);
    expect(scope.isUnscoped()).toBe(c.data.scope.unscoped === true);
    for (const check of c.data.checks) expect(scope.contains(check.factoryId), `factoryId "${check.factoryId}"`).toBe(check.contains);
    if (c.data.factoryIds) expect([...scope.factoryIds()]).toEqual(c.data.factoryIds);
  });
});

describe('plan', () => {
  test.each(casesOf('plan').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const scope = scopeFrom(c.data.scope);
    const cache = new CacheSnapshot();
    for (const d of c.data.cache) {
      const state: { version?: number; fetching: boolean; hasData: boolean } = { fetching: d.fetching ?? false, hasData: d.hasData ?? true };
      if (d.version != null) state.version = d.version;
      cache.put(d.type, d.id, state);
    }
    let ops: Operation[];
    if (c.data.event) {
      ops = planEvent(eventFromJson(c.data.event), scope, cache);
    } else {
      const b = c.data.batch;
      const batch: Batch = { events: b.events.map(eventFromJson), resync: b.resync ?? false, absorbed: b.absorbed ?? 0 };
      ops = planBatch(batch, scope, cache);
    }
    expect(json(ops.map(opToJson))).toEqual(normalizeOps(c.data.ops));
  });
});

describe('coalesce', () => {
  test.each(casesOf('coalesce').map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const co = new Coalescer({ windowMs: c.data.config?.windowMs ?? undefined, maxPending: c.data.config?.maxPending ?? undefined });
    if (c.data.expectWindowMs != null) expect(co.windowMs).toBe(c.data.expectWindowMs);
    let now = 0;
    const emitted: unknown[] = [];
    c.data.steps.forEach((step: any, i: number) => {
      const where = `step ${i} at ${step.at} ms: ${JSON.stringify(step)}`;
      if (step.at < now) throw new Error('vector schema: steps go back in time');
      now = step.at;
      let out: Batch | null = null;
      if (step.offer) co.offer(eventFromJson(step.offer), now);
      else if (step.tick) out = co.takeDue(now);
      else if (step.flush) out = co.flush();
      else throw new Error('vector schema: a step needs offer, tick or flush');
      if (out && (out.events.length > 0 || out.resync)) {
        for (const e of out.events) {
          if (e.patch) expect(e.patch.map((p) => p.column), `${where}: merged patch sorted`).toEqual([...e.patch.map((p) => p.column)].sort());
        }
        emitted.push({ at: now, events: out.events.map(eventToJson), resync: out.resync, absorbed: out.absorbed });
      }
      if ('expectDeadline' in step) expect(co.deadline(), where).toBe(step.expectDeadline);
      if (step.expectPending != null) expect(co.pending(), where).toBe(step.expectPending);
    });
    const want = c.data.batches.map((b: any) => ({
      at: b.at,
      events: b.events.map(normalizeEventJson),
      resync: b.resync ?? false,
      absorbed: b.absorbed ?? 0,
    }));
    expect(json(emitted)).toEqual(want);
  });
});

describe('client', () => {
  test.each(casesOf('client').map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const out = await runClientVector(c.data);
    expect(out.failures).toEqual([]);
    expect(out.fetches).toEqual(c.data.fetches);
    expect(json(out.data)).toEqual(c.data.data ?? {});
  });
});
