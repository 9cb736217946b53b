// JSON nodes for the event codec, and the canonical JSON writer. Broadcast payloads arrive already parsed
// (realtime-js hands them over as values), so the SDK ships no text reader: the strict one the conformance
// vectors need (duplicate keys, 5 vs 5.0) lives with the tests (test/text_decoder.ts).

/** A parsed JSON value that keeps what JSON.parse loses: key order with duplicates, integer vs float. */
export type JsonNode =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'str'; v: string }
  | { t: 'int'; v: bigint } // an integer literal within 64 bits (int64 or uint64)
  | { t: 'dbl'; v: number } // a literal with a fraction or exponent
  | { t: 'arr'; items: JsonNode[] }
  | { t: 'obj'; entries: Array<[string, JsonNode]> };

/**
 * A JSON value as JSON.parse (or realtime-js) hands it over, as a node. Integral numbers within
 * ±(2^53 − 1) are integers; every other number is a float, as its text would have read.
 */
export function nodeFromValue(v: unknown, depth = 1, maxDepth = 64): JsonNode {
  if (depth > maxDepth + 1) throw new RangeError('nested too deeply');
  if (v === null || v === undefined) return { t: 'null' };
  switch (typeof v) {
    case 'boolean':
      return { t: 'bool', v };
    case 'string':
      return { t: 'str', v };
    case 'number':
      return Number.isSafeInteger(v) ? { t: 'int', v: BigInt(v) } : { t: 'dbl', v };
    case 'bigint':
      return { t: 'int', v };
    case 'object':
      if (Array.isArray(v)) return { t: 'arr', items: v.map((x) => nodeFromValue(x, depth + 1, maxDepth)) };
      return {
        t: 'obj',
        entries: Object.entries(v as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .map(([k, x]) => [k, nodeFromValue(x, depth + 1, maxDepth)] as [string, JsonNode]),
      };
    default:
      return { t: 'null' };
  }
}

const HEX = '0123456789abcdef';

/** A JSON string, escaped minimally: '"', '\', control characters (short escapes where JSON has them). */
export function jsonString(s: string): string {
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(run, i);
    run = i + 1;
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      default: out += `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    }
  }
  return `${out}${s.slice(run)}"`;
}

/** A number as ECMAScript's Number.prototype.toString writes it (-0 as 0). */
export const esNumber = (v: number): string => (Object.is(v, -0) ? '0' : String(v));

/** Minified JSON of a node, object members in their order. REQUIRES: no duplicate keys. */
export function writeNode(v: JsonNode): string {
  switch (v.t) {
    case 'null': return 'null';
    case 'bool': return v.v ? 'true' : 'false';
    case 'str': return jsonString(v.v);
    case 'int': return v.v.toString();
    case 'dbl': return esNumber(v.v);
    case 'arr': return `[${v.items.map(writeNode).join(',')}]`;
    case 'obj': return `{${v.entries.map(([k, x]) => `${jsonString(k)}:${writeNode(x)}`).join(',')}}`;
  }
}
