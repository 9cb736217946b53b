// Supabase's API keys (issue 11): an app created with a publishable key (sb_publishable_..., what new Supabase
// projects hand out) and signed in with setAuth(userJwt) connects, joins with the user's token and sees only its
// factory; a backend posts with a secret key (sb_secret_...); a key rtcache was not given is refused.
import { afterEach, describe, expect, test } from 'vitest';
import { PUBLISHABLE_KEY, SECRET_KEY, VSNS } from '../lib/env.mjs';
import { userToken } from '../lib/jwt.mjs';
import {
  closeAll,
  collector,
  postEvents,
  restBroadcast,
  subscribe,
  supabaseClient,
  tail,
  uniq,
  upgrade,
  woEvent,
} from '../lib/clients.mjs';

afterEach(closeAll);

// Shaped like a real key, but not one of the server's.
const unlisted = (kind) => `sb_${kind}_${'Q'.repeat(22)}_notmine1`;

describe.each(VSNS)('vsn %s: a client created with a publishable key', (vsn) => {
  test('setAuth(userJwt): connects, joins its factory, is refused another, receives only its factory', async () => {
    const c = supabaseClient({ vsn, token: PUBLISHABLE_KEY });
    await c.realtime.setAuth(userToken({ factories: ['f1'] }));
    const got = collector('invalidate');
    const mine = c.client.channel('list:wo:f1').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    const sub = await subscribe(mine);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    expect(c.log.some(([, kind, msg]) => kind === 'transport' && msg.includes(`apikey=${PUBLISHABLE_KEY}`)), tail(c)).toBe(true);

    const theirs = c.client.channel('list:wo:f2');
    expect((await subscribe(theirs)).status, tail(c)).toBe('CHANNEL_ERROR');
    expect(theirs.joinReplies.find((r) => r.status === 'error')?.response?.reason).toMatch(/^Unauthorized/);

    const id = uniq('k');
    const res = await postEvents([woEvent({ id: `${id}-f2`, factoryId: 'f2' }), woEvent({ id: `${id}-f1`, factoryId: 'f1' })], {
      token: SECRET_KEY,
    });
    expect(res.status, res.text).toBe(202);
    const [m] = await got.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(c)}`);
    });
    expect(m.payload).toMatchObject({ id: `${id}-f1`, factoryId: 'f1' });
  });

  test('without sign-in it is anon: public topics work, no factory event reaches it', async () => {
    const c = supabaseClient({ vsn, token: PUBLISHABLE_KEY });
    const id = uniq('anon');
    const seen = collector('anon');
    const doc = c.client.channel(`doc:wo:${id}`).on('broadcast', { event: '*' }, (m) => seen.push(m));
    const room = c.client.channel(`room-${id}`).on('broadcast', { event: 'ping' }, (m) => seen.push(m));
    expect((await subscribe(doc)).status, tail(c)).toBe('SUBSCRIBED');
    expect((await subscribe(room)).status, tail(c)).toBe('SUBSCRIBED');
    expect((await postEvents([woEvent({ id, factoryId: 'f1' })], { token: SECRET_KEY })).status).toBe(202);
    // Published after the event on the same connection: had the event been delivered, it would come first.
    expect((await restBroadcast([{ topic: `room-${id}`, event: 'ping', payload: { n: 1 } }], { token: SECRET_KEY })).status).toBe(202);
    const [first] = await seen.waitFor(1);
    expect(first.event, JSON.stringify(seen.items)).toBe('ping');
  });
});

describe('keys on the REST endpoints and at the upgrade', () => {
  test('a secret key is service_role for POST /v1/events; a publishable key is not', async () => {
    expect((await postEvents([woEvent({ id: uniq('s') })], { token: SECRET_KEY })).status).toBe(202);
    const anon = await postEvents([woEvent({ id: uniq('p') })], { token: PUBLISHABLE_KEY });
    expect(anon.status).toBe(403);
  });

  test('a key the server was not given is refused before the upgrade with 401 and a clear body', async () => {
    for (const key of [unlisted('publishable'), unlisted('secret')]) {
      const r = await upgrade(`apikey=${key}&vsn=2.0.0`);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({ error: 'Invalid API key: not a publishable or secret key of this server' });
      expect((await postEvents([woEvent({ id: uniq('u') })], { token: key })).status).toBe(401);
    }
    expect((await upgrade(`apikey=${PUBLISHABLE_KEY}&vsn=2.0.0`)).status).toBe(101);
    expect((await upgrade(`apikey=${SECRET_KEY}&vsn=1.0.0`)).status).toBe(101);
  });

  test.each(VSNS)('vsn %s: supabase-js with an unlisted key never reaches SUBSCRIBED', async (vsn) => {
    const c = supabaseClient({ vsn, token: unlisted('publishable') });
    const ch = c.client.channel(uniq('room'));
    const sub = await subscribe(ch, { timeoutMs: 4000 }).catch((e) => ({ status: 'NO_STATUS', error: e }));
    expect(sub.status, tail(c)).not.toBe('SUBSCRIBED');
    expect(c.log.some(([, kind, msg]) => kind === 'transport' && /error|close/i.test(msg)), tail(c)).toBe(true);
  });
});
