// The event contract and its codec (mirrors include/rtcache/core/event.hpp and event_codec.hpp).
// Decoding treats input as untrusted: unknown or duplicate fields, wrong types, unregistered types, ids
// outside the grammar, bad versions or timestamps and anything over the limits are refused with a reason.
// Encoding is canonical: fixed field order, patch sorted by column, no whitespace.
import { DocTypeRegistry, validateDocTypeName, validateId } from './doc_types.js';
import { compareBytes, fail, ok, printable, utf8Length, type ErrorCode, type Result, type RtError } from './errors.js';
import { esNumber, jsonString, nodeFromValue, writeNode, type JsonNode } from './json.js';

export type Action = 'create' | 'update' | 'delete' | 'approve' | 'reject';
export const ACTIONS: readonly Action[] = ['create', 'update', 'delete', 'approve', 'reject'];
export const SUMMARY_ID = '*';

/** One column's new value as canonical (minified) JSON text, e.g. '42', '"approved"', '{"a":1}'. */
export interface PatchEntry {
  column: string;
  json: string;
}

/**
 * A decoded, valid event. `patch` is kept as canonical text per column, sorted by column (byte order), so
 * equal events encode equal in both SDKs; `patchValues` gives it as plain values.
 */
export interface RtEvent {
  type: string;
  id: string; // a document id, or "*" for a factory summary
  factoryId: string;
  action: Action;
  changedKeys?: string[]; // absent: unknown, clients must invalidate
  version?: number; // absent: no version guard
  ts?: string; // RFC 3339 commit timestamp, verbatim
  patch?: PatchEntry[];
  offset?: number; // position in the channel, set by the server
  count?: number; // rows summarised; only when id === "*"
}

/** The wire shape of an event (what the server broadcasts as the `invalidate` payload). */
export interface EventPayload {
  type: string;
  id: string;
  factoryId: string;
  action: Action;
  changedKeys?: string[];
  version?: number;
  ts?: string;
  patch?: Record<string, unknown>;
  offset?: number;
  count?: number;
}

export const isSummary = (e: RtEvent): boolean => e.id === SUMMARY_ID;

/** True when `patch` holds a value for every changed key (both present and non-empty). */
export function patchCoversChanges(e: RtEvent): boolean {
  if (!e.changedKeys || !e.patch || e.changedKeys.length === 0) return false;
  return e.changedKeys.every((k) => e.patch!.some((p) => p.column === k));
}

/** The patch as a plain object of values. */
export function patchValues(entries: readonly PatchEntry[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of entries) out[p.column] = JSON.parse(p.json);
  return out;
}

export const sortPatch = (entries: PatchEntry[]): PatchEntry[] => entries.sort((a, b) => compareBytes(a.column, b.column));

export interface CodecLimits {
  maxEventBytes: number;
  maxBatchBytes: number;
  maxBatchItems: number;
  maxChangedKeys: number;
  maxPatchEntries: number;
  maxColumnLength: number;
  maxTsLength: number;
  maxDepth: number;
}

export const DEFAULT_LIMITS: Readonly<CodecLimits> = {
  maxEventBytes: 64 * 1024,
  maxBatchBytes: 4 << 20,
  maxBatchItems: 1000,
  maxChangedKeys: 256,
  maxPatchEntries: 256,
  maxColumnLength: 63,
  maxTsLength: 40,
  maxDepth: 32,
};

const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const fieldError = (code: ErrorCode, field: string, what: string): RtError => ({ code, message: `field '${field}' ${what}` });

export function typeName(v: JsonNode): string {
  switch (v.t) {
    case 'arr': return 'an array';
    case 'obj': return 'an object';
    case 'int':
    case 'dbl': return 'a number';
    case 'str': return 'a string';
    case 'bool': return 'a boolean';
    case 'null': return 'null';
  }
}

const wrongType = (field: string, want: string, v: JsonNode) => fieldError('wrong_type', field, `must be ${want}, not ${typeName(v)}`);

class Refused extends Error {
  constructor(readonly error: RtError) {
    super(error.message);
  }
}
const refuse = (e: RtError): never => {
  throw new Refused(e);
};

function getString(field: string, v: JsonNode): string {
  if (v.t !== 'str') refuse(wrongType(field, 'a string', v));
  return (v as { v: string }).v;
}

// A non-negative integer up to `max`; floats (even 5.0) are refused: versions and offsets are exact.
function getUnsigned(field: string, v: JsonNode, max: bigint): number {
  if (v.t === 'int') {
    if (v.v < 0n) refuse(fieldError('bad_value', field, `must not be negative, got ${v.v}`));
    if (v.v > max) refuse(fieldError('bad_value', field, `must be at most ${max}`));
    return Number(v.v);
  }
  if (v.t === 'dbl') refuse(fieldError('bad_value', field, 'must be an integer, got a fractional or exponent number'));
  return refuse(wrongType(field, 'an integer', v));
}

function checkColumn(field: string, column: string, limits: CodecLimits) {
  if (column.length === 0) refuse(fieldError('empty', field, 'holds an empty column name'));
  const bytes = utf8Length(column);
  if (bytes > limits.maxColumnLength) {
    refuse(fieldError('too_long', field, `holds a column name of ${bytes} bytes; the limit is ${limits.maxColumnLength}`));
  }
  for (let i = 0; i < column.length; i++) {
    const c = column.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) refuse(fieldError('bad_char', field, 'holds a column name with a control character'));
  }
}

const digitsAt = (s: string, pos: number, len: number, lo: number, hi: number): boolean => {
  if (pos + len > s.length) return false;
  const part = s.slice(pos, pos + len);
  if (!/^[0-9]+$/.test(part)) return false;
  const v = Number(part);
  return v >= lo && v <= hi;
};

/** RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), a day that exists. */
export function isRfc3339(s: string): boolean {
  if (
    !(
      digitsAt(s, 0, 4, 0, 9999) && s.length > 19 && s[4] === '-' && digitsAt(s, 5, 2, 1, 12) && s[7] === '-' &&
      digitsAt(s, 8, 2, 1, 31) && (s[10] === 'T' || s[10] === 't') && digitsAt(s, 11, 2, 0, 23) && s[13] === ':' &&
      digitsAt(s, 14, 2, 0, 59) && s[16] === ':' && digitsAt(s, 17, 2, 0, 60)
    )
  ) {
    return false;
  }
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(5, 7));
  const day = Number(s.slice(8, 10));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, month === 2 && leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (day > days[month - 1]!) return false;
  let pos = 19;
  if (s[pos] === '.') {
    const start = ++pos;
    while (pos < s.length && s[pos]! >= '0' && s[pos]! <= '9') ++pos;
    if (pos === start) return false;
  }
  if (pos >= s.length) return false;
  if ((s[pos] === 'Z' || s[pos] === 'z') && pos + 1 === s.length) return true;
  return (
    (s[pos] === '+' || s[pos] === '-') && pos + 6 === s.length && digitsAt(s, pos + 1, 2, 0, 23) && s[pos + 3] === ':' &&
    digitsAt(s, pos + 4, 2, 0, 59)
  );
}

// Minified JSON of a patch value, object keys in input order. A nested object with a repeated key is
// refused: parsers disagree on which value wins, so no value is safe to forward. Integral numbers beyond
// 64 bits cannot be read back by the server's parser, so they are refused rather than mangled.
function canonicalValue(v: JsonNode): string {
  switch (v.t) {
    case 'obj': {
      const seen = new Set<string>();
      const parts: string[] = [];
      for (const [k, x] of v.entries) {
        if (seen.has(k)) refuse({ code: 'duplicate_key', message: `field 'patch' holds a value with key '${printable(k)}' twice` });
        seen.add(k);
        parts.push(`${jsonString(k)}:${canonicalValue(x)}`);
      }
      return `{${parts.join(',')}}`;
    }
    case 'arr':
      return `[${v.items.map(canonicalValue).join(',')}]`;
    case 'dbl': {
      const text = esNumber(v.v);
      if (!/[.e]/.test(text)) {
        const big = BigInt(text);
        if (big < -(2n ** 63n) || big > UINT64_MAX) {
          refuse({ code: 'bad_value', message: `field 'patch' holds the integer ${text}, beyond 64 bits; send it as a string` });
        }
      }
      return text;
    }
    default:
      return writeNode(v);
  }
}

const FIELDS = ['type', 'id', 'factoryId', 'action', 'changedKeys', 'version', 'ts', 'patch', 'offset', 'count'] as const;
type Field = (typeof FIELDS)[number];

function decodeNode(root: JsonNode, types: DocTypeRegistry, limits: CodecLimits): RtEvent {
  if (root.t !== 'obj') refuse({ code: 'not_object', message: `an event must be a JSON object, not ${typeName(root)}` });
  const e: Partial<RtEvent> = {};
  const seen = new Set<Field>();
  for (const [key, value] of (root as { entries: Array<[string, JsonNode]> }).entries) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      refuse({ code: 'unknown_field', message: `field '${printable(key)}' is not part of the event contract` });
    }
    const field = key as Field;
    if (seen.has(field)) refuse(fieldError('duplicate_key', field, 'appears twice'));
    seen.add(field);
    readField(e, field, value, types, limits);
  }
  for (const f of ['type', 'id', 'factoryId', 'action'] as const) {
    if (!seen.has(f)) refuse(fieldError('missing_field', f, 'is required'));
  }
  const ev = e as RtEvent;
  if (ev.count !== undefined && !isSummary(ev)) refuse(fieldError('bad_value', 'count', 'is only allowed on a summary (id "*")'));
  if (isSummary(ev) && ev.count === undefined) refuse(fieldError('missing_field', 'count', 'is required for a summary (id "*")'));
  return ev;
}

function readField(e: Partial<RtEvent>, field: Field, value: JsonNode, types: DocTypeRegistry, limits: CodecLimits) {
  switch (field) {
    case 'type': {
      const s = getString(field, value);
      const v = validateDocTypeName(s);
      if (!v.ok) refuse(fieldError(v.error.code, field, v.error.message));
      if (!types.contains(s)) refuse(fieldError('unknown_doc_type', field, `'${s}' is not a configured doc type`));
      e.type = s;
      return;
    }
    case 'id': {
      const s = getString(field, value);
      if (s !== SUMMARY_ID) {
        const v = validateId(s, "field 'id'");
        if (!v.ok) refuse(v.error);
      }
      e.id = s;
      return;
    }
    case 'factoryId': {
      const s = getString(field, value);
      const v = validateId(s, "field 'factoryId'");
      if (!v.ok) refuse(v.error);
      e.factoryId = s;
      return;
    }
    case 'action': {
      const s = getString(field, value);
      if (!(ACTIONS as readonly string[]).includes(s)) {
        refuse({ code: 'unknown_action', message: `action '${printable(s)}' is not one of create, update, delete, approve, reject` });
      }
      e.action = s as Action;
      return;
    }
    case 'changedKeys': {
      if (value.t !== 'arr') return refuse(wrongType(field, 'an array of strings', value));
      if (value.items.length > limits.maxChangedKeys) {
        refuse(fieldError('too_many', field, `has ${value.items.length} entries; the limit is ${limits.maxChangedKeys}`));
      }
      const out: string[] = [];
      for (const item of value.items) {
        const s = getString(field, item);
        checkColumn(field, s, limits);
        if (out.includes(s)) refuse(fieldError('duplicate_key', field, `lists '${printable(s)}' twice`));
        out.push(s);
      }
      e.changedKeys = out;
      return;
    }
    case 'version':
      e.version = getUnsigned(field, value, INT64_MAX);
      return;
    case 'ts': {
      const s = getString(field, value);
      if (utf8Length(s) > limits.maxTsLength) refuse(fieldError('too_long', field, `is longer than ${limits.maxTsLength} bytes`));
      if (!isRfc3339(s)) refuse(fieldError('bad_value', field, `'${printable(s)}' is not an RFC 3339 timestamp`));
      e.ts = s;
      return;
    }
    case 'patch': {
      if (value.t !== 'obj') return refuse(wrongType(field, 'an object', value));
      if (value.entries.length > limits.maxPatchEntries) {
        refuse(fieldError('too_many', field, `has ${value.entries.length} columns; the limit is ${limits.maxPatchEntries}`));
      }
      const entries: PatchEntry[] = [];
      for (const [k, x] of value.entries) {
        checkColumn(field, k, limits);
        entries.push({ column: k, json: canonicalValue(x) });
      }
      sortPatch(entries);
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.column === entries[i - 1]!.column) {
          refuse(fieldError('duplicate_key', field, `sets '${printable(entries[i]!.column)}' twice`));
        }
      }
      e.patch = entries;
      return;
    }
    case 'offset':
    case 'count':
      e[field] = getUnsigned(field, value, UINT64_MAX);
      return;
  }
}

/** Judges one parsed event by the contract (the decoder's rules; no size bound: see EventDecoder.validate). */
export function judgeEventNode(root: JsonNode, types: DocTypeRegistry, limits: CodecLimits): Result<RtEvent> {
  try {
    return ok(decodeNode(root, types, limits));
  } catch (x) {
    if (x instanceof Refused) return { ok: false, error: x.error };
    throw x;
  }
}

/**
 * Validates contract events as realtime-js hands them over, already parsed (one decoder per registry and
 * limits; stateless, so safe to share). Decoding raw text is for tests only (test/text_decoder.ts).
 */
export class EventDecoder {
  readonly limits: Readonly<CodecLimits>;
  constructor(
    readonly types: DocTypeRegistry = DocTypeRegistry.defaults(),
    limits: Partial<CodecLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /**
   * Validates an event that arrived already parsed (a broadcast payload from realtime-js) by the same rules.
   * Its size bound is that of its canonical encoding.
   */
  validate(payload: unknown): Result<RtEvent> {
    let node: JsonNode;
    try {
      node = nodeFromValue(payload, 1, this.limits.maxDepth);
    } catch {
      return fail('bad_json', `JSON is nested deeper than ${this.limits.maxDepth} levels`);
    }
    if (nodeDepthExceeds(node, this.limits.maxDepth)) return fail('bad_json', `JSON is nested deeper than ${this.limits.maxDepth} levels`);
    return this.bounded(judgeEventNode(node, this.types, this.limits));
  }

  /** An event without raw text of its own is bounded by its canonical encoding. */
  bounded(r: Result<RtEvent>): Result<RtEvent> {
    if (r.ok && utf8Length(encodeEvent(r.value)) > this.limits.maxEventBytes) {
      return fail('too_long', `event encodes to more than ${this.limits.maxEventBytes} bytes`);
    }
    return r;
  }
}

function nodeDepthExceeds(v: JsonNode, max: number, depth = 1): boolean {
  if (v.t === 'arr' || v.t === 'obj') {
    if (depth > max) return true;
    const kids = v.t === 'arr' ? v.items : v.entries.map(([, x]) => x);
    return kids.some((k) => nodeDepthExceeds(k, max, depth + 1));
  }
  return false;
}

/** Canonical JSON: {"type","id","factoryId","action","changedKeys"?,"version"?,"ts"?,"patch"?,"offset"?,"count"?}. */
export function encodeEvent(e: RtEvent): string {
  let out = `{"type":${jsonString(e.type)},"id":${jsonString(e.id)},"factoryId":${jsonString(e.factoryId)},"action":"${e.action}"`;
  if (e.changedKeys) out += `,"changedKeys":[${e.changedKeys.map(jsonString).join(',')}]`;
  if (e.version !== undefined) out += `,"version":${e.version}`;
  if (e.ts !== undefined) out += `,"ts":${jsonString(e.ts)}`;
  if (e.patch) out += `,"patch":{${e.patch.map((p) => `${jsonString(p.column)}:${p.json}`).join(',')}}`;
  if (e.offset !== undefined) out += `,"offset":${e.offset}`;
  if (e.count !== undefined) out += `,"count":${e.count}`;
  return `${out}}`;
}

/** The wire shape of a valid event (patch as plain values). */
export function toPayload(e: RtEvent): EventPayload {
  return JSON.parse(encodeEvent(e)) as EventPayload;
}

/**
 * Builds an event from its parts without the decoder's checks (a trusted producer, tests, vectors): absent
 * and null optional fields mean no value; patch values are plain JSON values.
 */
export function eventFrom(p: {
  type: string;
  id: string;
  factoryId: string;
  action: Action;
  changedKeys?: string[] | null;
  version?: number | null;
  ts?: string | null;
  patch?: Record<string, unknown> | null;
  offset?: number | null;
  count?: number | null;
}): RtEvent {
  const e: RtEvent = { type: p.type, id: p.id, factoryId: p.factoryId, action: p.action };
  if (p.changedKeys != null) e.changedKeys = [...p.changedKeys];
  if (p.version != null) e.version = p.version;
  if (p.ts != null) e.ts = p.ts;
  if (p.patch != null) {
    e.patch = sortPatch(Object.entries(p.patch).map(([column, v]) => ({ column, json: writeNode(nodeFromValue(v)) })));
  }
  if (p.offset != null) e.offset = p.offset;
  if (p.count != null) e.count = p.count;
  return e;
}
