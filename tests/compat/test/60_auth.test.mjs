// Tokens: refresh with setAuth keeps the channel working; expired tokens are refused on connect, on join and
// on refresh (docs/design.md §4).
import { afterEach, describe, expect, test } from 'vitest';
import ws from 'ws';
import { VSNS, WS_URL } from '../lib/env.mjs';
import { expiredUserToken, serviceToken, sign, userToken } from '../lib/jwt.mjs';
import { closeAll, collector, postEvents, subscribe, supabaseClient, tail, until, withTimeout, woEvent } from '../lib/clients.mjs';

afterEach(closeAll);

// The HTTP answer to a WebSocket upgrade attempt: 101, or the status and body of a refusal.
function upgrade(query) {
  return withTimeout(
    new Promise((resolve) => {
      const sock = new ws(`${WS_URL}/realtime/v1/websocket?${query}`);
      sock.on('open', () => {
        sock.close();
        resolve({ status: 101 });
      });
      sock.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      sock.on('error', () => {});
    }),
    4000,
    'upgrade',
  );
}

describe('connect-time refusals (HTTP before the upgrade)', () => {
  test('an expired apikey is refused with 401 {"error":...}', async () => {
    const r = await upgrade(`apikey=${expiredUserToken()}&vsn=2.0.0`);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toEqual({ error: expect.stringMatching(/expired/i) });
  });

  test('a token signed with another secret is refused with 401', async () => {
    const forged = sign({ role: 'service_role', exp: Math.floor(Date.now() / 1000) + 600 }, 'x'.repeat(40));
    const r = await upgrade(`apikey=${forged}&vsn=2.0.0`);
    expect(r.status).toBe(401);
  });

  test('a missing apikey is refused with 401', async () => {
    const r = await upgrade('vsn=2.0.0');
    expect(r.status).toBe(401);
  });

  test('a valid apikey upgrades', async () => {
    expect((await upgrade(`apikey=${userToken()}&vsn=2.0.0`)).status).toBe(101);
    expect((await upgrade(`apikey=${serviceToken()}&vsn=1.0.0`)).status).toBe(101);
  });
});

describe.each(VSNS)('vsn %s: token refresh', (vsn) => {
  test('setAuth(newToken) keeps the channel working', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'], ttl: 600 }) });
    const got = collector('invalidate');
    const ch = c.client.channel('doc:wo:123').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');

    const fresh = userToken({ factories: ['f1'], ttl: 7200 });
    await c.realtime.setAuth(fresh);
    // realtime-js pushed `access_token` on the joined channel (no reply is expected).
    expect(c.log.some(([, kind, msg]) => kind === 'push' && /access_token/.test(msg)), tail(c)).toBe(true);

    await postEvents([woEvent({ id: '123', factoryId: 'f1', version: 11 })]);
    const [m] = await got.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(c)}`);
    });
    expect(m.payload.version).toBe(11);
    expect(ch.state).toBe('joined');
  });

  test('setAuth(expiredToken) on a joined channel: system error, then the channel closes', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const system = collector('system');
    const ch = c.client.channel('doc:wo:123').on('system', {}, (m) => system.push(m));
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    await c.realtime.setAuth(expiredUserToken());
    const [m] = await system.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(c)}`);
    });
    expect(m).toMatchObject({ status: 'error', message: expect.stringMatching(/expired/i) });
    await until(() => sub.statuses.some(([s]) => s === 'CLOSED') || ch.state === 'closed', 3000, `channel closed (state ${ch.state})\n${tail(c)}`);
  });

  test('a join carrying an expired access_token is refused: CHANNEL_ERROR', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    await c.realtime.setAuth(expiredUserToken());
    const ch = c.client.channel('doc:wo:123');
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('CHANNEL_ERROR');
    const refusal = ch.joinReplies.find((r) => r.status === 'error');
    expect(refusal?.response?.reason, JSON.stringify(ch.joinReplies)).toMatch(/InvalidJWTToken: Token has expired/);
  });

  test('a refreshed token that no longer covers list:wo:f1 revokes the channel', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const system = collector('system');
    const ch = c.client.channel('list:wo:f1').on('system', {}, (m) => system.push(m));
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    await c.realtime.setAuth(userToken({ factories: ['f2'] }));
    const [m] = await system.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(c)}`);
    });
    expect(m).toMatchObject({ status: 'error', message: expect.stringMatching(/no longer have permission/) });
  });
});
