// Tenant isolation as supabase-js sees it (issue 11): private channels authorised by the rules of
// tests/compat/relay.toml, a private message never reaching a public subscriber of the same topic, the answer to
// a client broadcast flood, and a doc channel's position telling a foreign-scoped client nothing.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { serviceToken, userToken } from '../lib/jwt.mjs';
import {
  closeAll,
  collector,
  joinPosition,
  postEvents,
  restBroadcast,
  sleep,
  subscribe,
  supabaseClient,
  tail,
  uniq,
  until,
  woEvent,
} from '../lib/clients.mjs';

afterEach(closeAll);

const privateConfig = { config: { private: true } };

describe.each(VSNS)('vsn %s: private channels', (vsn) => {
  test('a private join no rule allows is refused: CHANNEL_ERROR with Supabase\'s reason', async () => {
    const team = uniq('t');
    const outsider = supabaseClient({ vsn, token: userToken({ teams: ['another-team'] }) });
    const ch = outsider.client.channel(`team:${team}`, privateConfig);
    const sub = await subscribe(ch);
    expect(sub.status, tail(outsider)).toBe('CHANNEL_ERROR');
    expect(ch.joinReplies.find((r) => r.status === 'error')?.response?.reason, JSON.stringify(ch.joinReplies)).toBe(
      `Unauthorized: You do not have permissions to read from this Channel topic: team:${team}`,
    );
    // The same topic for a member of the team: allowed by the rule.
    const member = supabaseClient({ vsn, token: userToken({ teams: [team] }) });
    expect((await subscribe(member.client.channel(`team:${team}`, privateConfig))).status, tail(member)).toBe(
      'SUBSCRIBED',
    );
  });

  test('a member joins by rule; private messages reach private subscribers only, public ones public only', async () => {
    const team = uniq('t');
    const topic = `team:${team}`;
    const a = supabaseClient({ vsn, token: userToken({ teams: [team] }) });
    const b = supabaseClient({ vsn, token: userToken({ teams: [team] }) });
    const pub = supabaseClient({ vsn, token: userToken() });
    const gotB = collector('member B');
    const gotPub = collector('public subscriber');
    const chA = a.client.channel(topic, privateConfig);
    const chB = b.client.channel(topic, privateConfig).on('broadcast', { event: '*' }, (m) => gotB.push(m));
    const chPub = pub.client.channel(topic).on('broadcast', { event: '*' }, (m) => gotPub.push(m));
    expect((await subscribe(chA)).status, tail(a)).toBe('SUBSCRIBED');
    expect((await subscribe(chB)).status, tail(b)).toBe('SUBSCRIBED');
    expect((await subscribe(chPub)).status, tail(pub)).toBe('SUBSCRIBED');

    // A member's client broadcast on the private channel (the rule grants write).
    expect(await chA.send({ type: 'broadcast', event: 'ws-secret', payload: { n: 1 } })).toBe('ok');
    // The backend's, private and public.
    const res = await restBroadcast([
      { topic, event: 'rest-secret', payload: { n: 2 }, private: true },
      { topic, event: 'open', payload: { n: 3 }, private: false },
    ]);
    expect(res.status, res.text).toBe(202);
    expect(res.json.accepted).toBe(2);
    await gotB.waitFor(2);
    await gotPub.waitFor(1);
    await sleep(200);
    expect(gotB.items.map((m) => m.event)).toEqual(['ws-secret', 'rest-secret']);
    expect(gotPub.items.map((m) => m.event)).toEqual(['open']);
  });
});

describe.each(VSNS)('vsn %s: client broadcast flood', (vsn) => {
  test('beyond the burst the channel gets Supabase\'s system error "Too many messages per second", then closes', async () => {
    const topic = uniq('flood');
    const sender = supabaseClient({ vsn, token: userToken() });
    const receiver = supabaseClient({ vsn, token: userToken() });
    const system = collector('system');
    const got = collector('receiver');
    const chS = sender.client.channel(topic).on('system', {}, (m) => system.push(m));
    const chR = receiver.client.channel(topic).on('broadcast', { event: 'spam' }, (m) => got.push(m));
    const sub = await subscribe(chS);
    expect(sub.status, tail(sender)).toBe('SUBSCRIBED');
    expect((await subscribe(chR)).status, tail(receiver)).toBe('SUBSCRIBED');

    // 60 sends in one tick: all go over the socket before any answer (relay.toml: burst 30, 10/s).
    await Promise.all(Array.from({ length: 60 }, (_, i) => chS.send({ type: 'broadcast', event: 'spam', payload: { i } })));
    const [m] = await system.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(sender)}`);
    });
    expect(m).toMatchObject({ extension: 'system', status: 'error', message: 'Too many messages per second' });
    await until(() => sub.statuses.some(([s]) => s === 'CLOSED'), 3000, `CLOSED\n${tail(sender)}`);
    await sleep(300);
    expect(got.items).toHaveLength(30);
    expect(got.items.map((x) => x.payload.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});

describe.each(VSNS)('vsn %s: doc channel positions', (vsn) => {
  test('a foreign-scoped client learns nothing: the same position as on a doc nobody opened', async () => {
    const id = uniq('pos');
    const victim = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const seen = collector('victim');
    const chV = victim.client.channel(`doc:wo:${id}`).on('broadcast', { event: 'invalidate' }, (m) => seen.push(m));
    expect((await subscribe(chV)).status, tail(victim)).toBe('SUBSCRIBED');
    const victimPosition = joinPosition(chV.joinReplies[0].response);
    const r = await postEvents([1, 2, 3, 4, 5].map((version) => woEvent({ id, factoryId: 'f1', version })));
    expect(r.status, r.text).toBe(202);
    await seen.waitFor(5);

    const attacker = supabaseClient({ vsn, token: userToken({ factories: ['f2'] }) });
    const got = collector('attacker');
    const busy = attacker.client.channel(`doc:wo:${id}`).on('broadcast', { event: '*' }, (m) => got.push(m));
    // Even with the victim's epoch (which it could not know): another view, nothing recovered, nothing replayed.
    busy.updateJoinPayload({ rtcache: { epoch: victimPosition.epoch, offset: 0 } });
    const fresh = attacker.client.channel(`doc:wo:${uniq('never-opened')}`);
    expect((await subscribe(busy)).status, tail(attacker)).toBe('SUBSCRIBED');
    expect((await subscribe(fresh)).status, tail(attacker)).toBe('SUBSCRIBED');
    const onBusy = joinPosition(busy.joinReplies[0].response);
    const onFresh = joinPosition(fresh.joinReplies[0].response);
    expect(onBusy.offset).toBe(0);
    expect(onBusy.offset).toBe(onFresh.offset);
    expect(onBusy.recovered).toBe(false);
    expect(onBusy.recovered).toBe(onFresh.recovered);
    expect(onBusy.epoch).not.toBe(victimPosition.epoch);
    for (const e of [onBusy.epoch, onFresh.epoch, victimPosition.epoch]) expect(e).toMatch(/^[0-9a-f]{32}$/);
    await sleep(300);
    expect(got.items).toHaveLength(0);
  });

  test('a service_role broadcast on a doc channel must name its factory: refused with its index and reason', async () => {
    const id = uniq('untagged');
    const res = await restBroadcast([
      { topic: `doc:wo:${id}`, event: 'invalidate', payload: { id } },
      { topic: `doc:wo:${id}`, event: 'note', payload: { factoryId: 'f1' } },
    ]);
    expect(res.status, res.text).toBe(202);
    expect(res.json.accepted).toBe(1);
    expect(res.json.refused).toEqual([
      { index: 0, code: 'missing_field', reason: expect.stringMatching(/must name its factory/) },
    ]);
  });
});
