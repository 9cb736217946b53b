// Broadcast both ways: client -> clients (kind-3 binary under 2.0.0, JSON under 1.0.0), self, ack, and the
// REST endpoint a backend (or channel.httpSend) uses.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { serviceToken, userToken } from '../lib/jwt.mjs';
import {
  closeAll,
  collector,
  postEvents,
  restBroadcast,
  sleep,
  subscribe,
  supabaseClient,
  tail,
  uniq,
  woEvent,
} from '../lib/clients.mjs';

afterEach(closeAll);

// Client-to-client broadcast uses a plain room, as Supabase apps do; contract channels are the backend's.
const room = () => uniq('room');

describe.each(VSNS)('vsn %s: broadcast', (vsn) => {
  test('client A sends ping, client B on the same channel receives it; A (self:false) does not', async () => {
    const topic = room();
    const a = supabaseClient({ vsn, token: userToken() });
    const b = supabaseClient({ vsn, token: userToken() });
    const gotA = collector('A');
    const gotB = collector('B');
    const chA = a.client.channel(topic).on('broadcast', { event: 'ping' }, (m) => gotA.push(m));
    const chB = b.client.channel(topic).on('broadcast', { event: 'ping' }, (m) => gotB.push(m));
    expect((await subscribe(chA)).status, tail(a)).toBe('SUBSCRIBED');
    expect((await subscribe(chB)).status, tail(b)).toBe('SUBSCRIBED');

    const payload = { n: 1, text: 'héllo', nested: { ok: true } };
    expect(await chA.send({ type: 'broadcast', event: 'ping', payload })).toBe('ok');
    const [m] = await gotB.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\nA:\n${tail(a)}\nB:\n${tail(b)}`);
    });
    expect(m).toMatchObject({ type: 'broadcast', event: 'ping', payload });
    await sleep(200);
    expect(gotA.items).toHaveLength(0);
    expect(gotB.items).toHaveLength(1);
  });

  test('self:true echoes to the sender', async () => {
    const topic = room();
    const a = supabaseClient({ vsn, token: userToken() });
    const got = collector('self');
    const ch = a.client
      .channel(topic, { config: { broadcast: { self: true } } })
      .on('broadcast', { event: 'ping' }, (m) => got.push(m));
    expect((await subscribe(ch)).status, tail(a)).toBe('SUBSCRIBED');
    await ch.send({ type: 'broadcast', event: 'ping', payload: { n: 2 } });
    const [m] = await got.waitFor(1).catch((e) => {
      throw new Error(`${e.message}\n${tail(a)}`);
    });
    expect(m).toMatchObject({ type: 'broadcast', event: 'ping', payload: { n: 2 } });
  });

  test("ack:true: send resolves 'ok' (the server replies to the push)", async () => {
    const topic = room();
    const a = supabaseClient({ vsn, token: userToken() });
    const ch = a.client.channel(topic, { config: { broadcast: { ack: true } } });
    expect((await subscribe(ch)).status, tail(a)).toBe('SUBSCRIBED');
    const r = await ch.send({ type: 'broadcast', event: 'ping', payload: { n: 3 } }, { timeout: 4000 });
    expect(r, tail(a)).toBe('ok');
  });

  test('REST POST /api/broadcast (service_role) reaches a subscriber', async () => {
    const topic = room();
    const a = supabaseClient({ vsn, token: userToken() });
    const got = collector('rest');
    const ch = a.client.channel(topic).on('broadcast', { event: 'rest-ping' }, (m) => got.push(m));
    expect((await subscribe(ch)).status, tail(a)).toBe('SUBSCRIBED');
    const res = await restBroadcast([{ topic, event: 'rest-ping', payload: { from: 'backend' }, private: false }], {
      token: serviceToken(),
    });
    expect(res.status, res.text).toBe(202);
    const [m] = await got.waitFor(1);
    expect(m).toMatchObject({ type: 'broadcast', event: 'rest-ping', payload: { from: 'backend' } });
  });

  test('channel.httpSend (realtime-js REST path /realtime/v1/api/broadcast) reaches another subscriber', async () => {
    const topic = room();
    const a = supabaseClient({ vsn, token: userToken() });
    // A signed-in user posting to a public room through realtime-js's REST path, as Supabase allows.
    const b = supabaseClient({ vsn, token: userToken() });
    const got = collector('httpSend');
    const chA = a.client.channel(topic).on('broadcast', { event: 'http-ping' }, (m) => got.push(m));
    expect((await subscribe(chA)).status, tail(a)).toBe('SUBSCRIBED');
    const chB = b.client.channel(topic);
    const r = await chB.httpSend('http-ping', { via: 'httpSend' }, { timeout: 4000 });
    expect(r).toEqual({ success: true });
    const [m] = await got.waitFor(1);
    expect(m).toMatchObject({ type: 'broadcast', event: 'http-ping', payload: { via: 'httpSend' } });
  });

  test('a client cannot forge an `invalidate` on a contract channel', async () => {
    // Contract events come from the backend only: a client's broadcast named `invalidate` on doc:wo:<id>
    // must not reach other subscribers (they would drop or patch their caches from it).
    const id = uniq('forge');
    const topic = `doc:wo:${id}`;
    const a = supabaseClient({ vsn, token: userToken() });
    const b = supabaseClient({ vsn, token: userToken() });
    const got = collector('B');
    const chA = a.client.channel(topic);
    const chB = b.client.channel(topic).on('broadcast', { event: '*' }, (m) => got.push(m));
    expect((await subscribe(chA)).status, tail(a)).toBe('SUBSCRIBED');
    expect((await subscribe(chB)).status, tail(b)).toBe('SUBSCRIBED');
    await chA.send({
      type: 'broadcast',
      event: 'invalidate',
      payload: { type: 'wo', id, factoryId: 'f1', action: 'update', patch: { status: 'forged' } },
    });
    await sleep(100);
    // The backend's event is the marker: once it is here, a forged one would have arrived before it.
    await postEvents([woEvent({ id, factoryId: 'f1', version: 1 })]);
    await got.waitFor(1);
    await sleep(200);
    expect(got.items.map((m) => m.payload?.patch?.status ?? m.payload?.version)).toEqual([1]);
  });
});
