// The public API accepts the real clients as they come (checked by `npm run typecheck`, which compiles the
// tests) and keeps the agreed names and shapes (checked at run time here).
import { createClient } from '@supabase/supabase-js';
import { RealtimeClient } from '@supabase/realtime-js';
import { QueryClient } from '@tanstack/query-core';
import { describe, expect, expectTypeOf, test } from 'vitest';
import ws from 'ws';
import * as sdk from '../src/index.js';
import * as react from '../src/react.js';
import type { RealtimeCacheOptions, RealtimeStats, RealtimeStatus } from '../src/index.js';

describe('public API', () => {
  test('createRealtimeCache takes a SupabaseClient or its RealtimeClient', async () => {
    // A transport given, as Node 20 has no WebSocket (recent realtime-js versions refuse to create a client without).
    const supabase = createClient('http://127.0.0.1:1', 'anon', { auth: { persistSession: false }, realtime: { transport: ws as never } });
    const realtime = new RealtimeClient('ws://127.0.0.1:1/realtime/v1', { params: { apikey: 'anon' }, transport: ws as never });
    const queryClient = new QueryClient();
    const a = sdk.createRealtimeCache({ queryClient, realtime: supabase, factoryId: 'f1', focusManager: null, onlineManager: null });
    const b = sdk.createRealtimeCache({ queryClient, realtime: supabase.realtime, factoryId: 'f1', focusManager: null, onlineManager: null });
    const c = sdk.createRealtimeCache({ queryClient, realtime, factoryId: 'f1', focusManager: null, onlineManager: null });
    for (const x of [a, b, c]) {
      expect(x.status()).toEqual({ connected: false, channels: 0 });
      await x.dispose();
    }
  });

  test('the agreed names and shapes', () => {
    expect(Object.keys(sdk)).toEqual(expect.arrayContaining(['keys', 'createRealtimeCache']));
    expect(Object.keys(react).sort()).toEqual(['RealtimeProvider', 'useRealtimeCache', 'useRealtimeDoc', 'useRealtimeInfiniteQuery', 'useRealtimeList', 'useRealtimeQuery', 'useRealtimeStatus']);
    expectTypeOf<RealtimeCacheOptions>().toHaveProperty('windowMs');
    expectTypeOf<RealtimeStatus>().toEqualTypeOf<{ connected: boolean; channels: number; lastEventAt?: number; recovered?: boolean }>();
    expectTypeOf<RealtimeStats['dropped']>().toMatchTypeOf<{ scope: number; stale: number }>();
    expectTypeOf<ReturnType<sdk.RealtimeCache['stats']>>().toMatchTypeOf<{
      received: number;
      dropped: { scope: number; stale: number };
      invalidated: number;
      patched: number;
      listRefetches: number;
    }>();
    expectTypeOf(sdk.keys.doc).returns.toEqualTypeOf<readonly ['doc', string, string]>();
    expectTypeOf<sdk.RealtimeCache['watchDoc']>().returns.toEqualTypeOf<() => void>();
    expectTypeOf<sdk.RealtimeCache['watchList']>().returns.toEqualTypeOf<() => void>();
  });
});

describe('the shipped bundle', () => {
  test('carries no JSON text reader: payloads arrive parsed; the strict reader is the tests\' (test/text_decoder.ts)', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const dist = new URL('../dist/', import.meta.url);
    const js = readdirSync(dist).filter((f) => f.endsWith('.js'));
    expect(js).toContain('index.js');
    for (const f of js) expect(readFileSync(new URL(f, dist), 'utf8'), f).not.toMatch(/parseJson|decodeBatch|unterminated string/);
    expect('decode' in sdk.EventDecoder.prototype).toBe(false);
    expect('decodeBatch' in sdk.EventDecoder.prototype).toBe(false);
  });
});

describe('README', () => {
  test('the minimal example in README.md is examples/minimal.mjs, verbatim', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/minimal.mjs', import.meta.url), 'utf8');
    const m = /<!-- example: examples\/minimal\.mjs -->\n```js\n([\s\S]*?)```/.exec(readme);
    expect(m?.[1]).toBe(example);
  });
});
