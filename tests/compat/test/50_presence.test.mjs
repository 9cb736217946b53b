// Presence is not a feature rtcache offers. Whatever the server does with a presence-enabled join, a real
// client must neither hang nor break: the join settles at once, and track() settles before its timeout.
// PRESENCE (below) pins what the gateway documents.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { userToken } from '../lib/jwt.mjs';
import { closeAll, collector, postEvents, subscribe, supabaseClient, tail, woEvent } from '../lib/clients.mjs';

afterEach(closeAll);

// What the gateway does (src/server/gateway/websocket_session.cpp): a presence-enabled join is accepted, and
// every presence push is answered at once with an error reply "presence is not supported by rtcache", so
// track() resolves 'error' and no presence state is ever synced: 'unsupported'. The alternative a server may
// choose, 'refused' (the join itself is refused with a reason naming presence), is kept for a change of mind.
const PRESENCE = process.env.RTCACHE_COMPAT_PRESENCE ?? 'unsupported';

describe.each(VSNS)('vsn %s: presence', (vsn) => {
  test(`presence is ${PRESENCE}: a presence-enabled join and track() settle at once, the channel keeps working`, async () => {
    const c = supabaseClient({ vsn, token: userToken() });
    const syncs = [];
    const got = collector('invalidate');
    const ch = c.client
      .channel('doc:wo:123', { config: { presence: { key: 'user-1' } } })
      .on('presence', { event: 'sync' }, () => syncs.push('sync'))
      .on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    const started = Date.now();
    const sub = await subscribe(ch, { timeoutMs: 4000 });
    expect(Date.now() - started).toBeLessThan(3000);
    if (PRESENCE === 'refused') {
      expect(sub.status, tail(c)).toBe('CHANNEL_ERROR');
      const refusal = ch.joinReplies.find((r) => r.status === 'error');
      expect(refusal?.response?.reason, JSON.stringify(ch.joinReplies)).toMatch(/presence/i);
      return;
    }
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    const t0 = Date.now();
    const r = await ch.track({ online_at: new Date().toISOString() }, { timeout: 4000 });
    expect(r, tail(c)).toBe('error');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(syncs).toEqual([]);
    expect(ch.presenceState()).toEqual({});
    // The channel still works after the presence traffic.
    await postEvents([woEvent({ id: '123', factoryId: 'f1', version: 1 })]);
    await got.waitFor(1);
    expect(ch.state).toBe('joined');
  });
});
