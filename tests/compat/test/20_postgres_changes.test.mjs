// The playbook's subscribe.ts pattern: postgres_changes bindings on contract channels. realtime-js compares
// the join reply's bindings with its own one by one; any difference is CHANNEL_ERROR
// ("mismatch between server and client bindings for postgres changes").
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { userToken } from '../lib/jwt.mjs';
import { closeAll, subscribe, supabaseClient, tail } from '../lib/clients.mjs';

afterEach(closeAll);

describe.each(VSNS)('vsn %s: postgres_changes bindings', (vsn) => {
  for (const topic of ['doc:wo:123', 'list:wo:f1', 'factory:f1']) {
    test(`supabase.channel('${topic}').on('postgres_changes', {event:'*', schema:'public'}) reaches SUBSCRIBED`, async () => {
      const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
      const ch = c.client.channel(topic).on('postgres_changes', { event: '*', schema: 'public' }, () => {});
      const sub = await subscribe(ch);
      expect(sub.status, `${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
      // The server's id was adopted: a positive integer (realtime-js drops every change for id 0/absent).
      const [b] = ch.bindings.postgres_changes;
      expect(Number.isInteger(b.id) && b.id > 0, JSON.stringify(ch.joinReplies)).toBe(true);
      const reply = ch.joinReplies.at(-1).response.postgres_changes;
      expect(reply).toHaveLength(1);
      expect(reply[0]).toMatchObject({ event: '*', schema: 'public' });
    });
  }

  test('several bindings come back in order, verbatim, identical ones with the same id', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const ch = c.client
      .channel('doc:wo:123')
      .on('postgres_changes', { event: 'UPDATE', schema: 'public' }, () => {})
      .on('postgres_changes', { event: '*', schema: 'public' }, () => {})
      .on('postgres_changes', { event: 'UPDATE', schema: 'public' }, () => {});
    const sub = await subscribe(ch);
    expect(sub.status, `${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
    const ids = ch.bindings.postgres_changes.map((b) => b.id);
    expect(ids[0]).toBe(ids[2]);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ch.bindings.postgres_changes.map((b) => b.filter.event)).toEqual(['UPDATE', '*', 'UPDATE']);
  });

  test('a binding on a table rtcache does not serve (neither mapped nor public) is refused with a reason', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const ch = c.client.channel('room-unserved').on('postgres_changes', { event: '*', schema: 'public', table: 'users' }, () => {});
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('CHANNEL_ERROR');
    expect(ch.joinReplies.find((r) => r.status === 'error')?.response?.reason).toBe(
      'Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given ' +
        'connect parameters: [event: *, schema: public, table: users, filters: []]',
    );
  });

  test('a channel without bindings gets postgres_changes [] and reaches SUBSCRIBED', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const ch = c.client.channel('doc:wo:123').on('broadcast', { event: 'invalidate' }, () => {});
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    expect(ch.joinReplies.at(-1).response.postgres_changes).toEqual([]);
  });

  test('unsubscribe gets a leave reply ok', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const ch = c.client.channel('doc:wo:123');
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    expect(await ch.unsubscribe()).toBe('ok');
  });

  test('the server answers heartbeats (else realtime-js reconnects every interval)', async () => {
    const beats = [];
    const c = supabaseClient({
      vsn,
      token: userToken({ factories: ['f1'] }),
      realtime: { heartbeatIntervalMs: 300, heartbeatCallback: (s) => beats.push(s) },
    });
    const ch = c.client.channel('doc:wo:123');
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    await new Promise((r) => setTimeout(r, 1300));
    expect(beats.filter((s) => s === 'ok').length, beats.join(',')).toBeGreaterThanOrEqual(2);
    expect(beats).not.toContain('timeout');
  });
});
