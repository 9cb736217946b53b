// Errors as values: the error names are rtcache core's `errc` names (include/rtcache/core/error.hpp), so a
// refusal reads the same in both SDKs and in the conformance vectors.
export type ErrorCode =
  | 'empty'
  | 'too_long'
  | 'bad_prefix'
  | 'bad_segment_count'
  | 'empty_segment'
  | 'bad_char'
  | 'unknown_doc_type'
  | 'bad_json'
  | 'not_object'
  | 'missing_field'
  | 'wrong_type'
  | 'unknown_field'
  | 'duplicate_key'
  | 'unknown_action'
  | 'bad_value'
  | 'too_many';

export interface RtError {
  code: ErrorCode;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: RtError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: ErrorCode, message: string): Result<T> => ({ ok: false, error: { code, message } });

// Byte length of `s` in UTF-8: every bound of the contract is in bytes, as the server counts them.
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// Orders strings as their UTF-8 bytes order (code point order), as the C++ core sorts std::string.
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

// Text safe for an error message: printable ASCII, other bytes as \xNN, at most 40 characters.
export function printable(s: string): string {
  let out = '';
  for (let i = 0; i < s.length && i < 40; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? s[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s.length > 40 ? `${out}...` : out;
}
