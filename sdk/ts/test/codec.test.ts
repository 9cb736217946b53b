// Codec rules the shared vectors do not reach, pinned as in src/core/event_codec_test.cpp, plus the
// already-parsed path (validate) that broadcast payloads take.
import { describe, expect, test } from 'vitest';
import { EventDecoder, encodeEvent } from '../src/index.js';
import { decodeText } from './text_decoder.js';

const decoder = new EventDecoder();
const base = '"type":"wo","id":"123","factoryId":"f1","action":"update"';
const code = (text: string) => {
  const r = decodeText(decoder, text);
  return r.ok ? `ok ${encodeEvent(r.value)}` : r.error.code;
};

describe('event codec', () => {
  test('a nested patch object with a repeated key is refused; the same key at two levels is fine', () => {
    expect(code(`{${base},"patch":{"d":{"a":1,"a":2}}}`)).toBe('duplicate_key');
    expect(code(`{${base},"patch":{"d":{"a":1,"b":{"a":2}}}}`)).toMatch(/^ok /);
  });

  test('integral patch numbers beyond 64 bits are refused instead of being encoded unreadably', () => {
    for (const n of ['2e19', '-1e19', '-9.3e18', '1e20', '9.99e20', '1.8446744073709552e19']) {
      expect(code(`{${base},"patch":{"d":${n}}}`), n).toBe('bad_value');
    }
    for (const n of ['1e19', '1e21', '1.5e300', '-9e18']) {
      const first = decodeText(decoder, `{${base},"patch":{"d":${n}}}`);
      expect(first.ok, n).toBe(true);
      if (first.ok) expect(decodeText(decoder, encodeEvent(first.value)).ok, n).toBe(true);
    }
  });

  test('integer literals beyond 64 bits are malformed JSON, as the server parser reads them', () => {
    expect(code(`{${base},"offset":18446744073709551616}`)).toBe('bad_json');
    expect(code(`{${base},"offset":18446744073709551615}`)).toMatch(/^ok /);
    expect(code(`{${base},"version":9223372036854775808}`)).toBe('bad_value');
  });

  test('a float where an integer belongs is a bad value, even 5.0; a string is the wrong type', () => {
    expect(code(`{${base},"version":5.0}`)).toBe('bad_value');
    expect(code(`{${base},"count":1e2}`)).toBe('bad_value');
    expect(code(`{${base},"version":"5"}`)).toBe('wrong_type');
  });

  test('text that cannot be UTF-8 (a lone surrogate) is malformed', () => {
    expect(code(`{${base},"patch":{"d":"\\ud800"}}`)).toBe('bad_json');
    expect(code(`{${base},"patch":{"d":"\\ud83d\\ude00"}}`)).toMatch(/^ok /);
  });

  test('limits count bytes: a column of 32 two-byte characters is over 63 bytes', () => {
    expect(code(`{${base},"changedKeys":["${'é'.repeat(32)}"]}`)).toBe('too_long');
    expect(code(`{${base},"changedKeys":["${'é'.repeat(31)}"]}`)).toMatch(/^ok /);
  });

  test('validate (a parsed broadcast payload) applies the same rules', () => {
    expect(decoder.validate({ type: 'wo', id: '1', factoryId: 'f1', action: 'update', version: 1.5 }).ok).toBe(false);
    expect(decoder.validate({ type: 'wo', id: '*', factoryId: 'f1', action: 'delete' }).ok).toBe(false);
    expect(decoder.validate('not an event').ok).toBe(false);
    expect(decoder.validate(null).ok).toBe(false);
    const deep = { type: 'wo', id: '1', factoryId: 'f1', action: 'update', patch: { d: JSON.parse('['.repeat(40) + ']'.repeat(40)) } };
    const r = decoder.validate(deep);
    expect(r.ok ? 'ok' : r.error.code).toBe('bad_json');
    const ok = decoder.validate({ type: 'wo', id: '1', factoryId: 'f1', action: 'update', changedKeys: ['s'], patch: { s: 'x' }, offset: 3 });
    expect(ok.ok && encodeEvent(ok.value)).toBe('{"type":"wo","id":"1","factoryId":"f1","action":"update","changedKeys":["s"],"patch":{"s":"x"},"offset":3}');
  });
});
