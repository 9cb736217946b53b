// Relay ingest across the cluster (docs/cluster.md, "Relay ingest"): a client broadcast, a REST broadcast or a
// POST /v1/events taken by one node goes to the ingest stream, the stream's one writer republishes it into the main
// stream, and every node's clients get it — at the same offsets on contract channels. A client broadcast reaches its
// sender only with `self: true`, once. Runs in both passes of scripts/compat-cluster.sh: with [postgres] (the slot
// holder writes) and without (the lease holder writes).
// Absence is proven by order, not by waiting: a message sent after the one that must not arrive is the marker — the
// topic's messages reach a node in stream order, so whatever was due before the marker came before it.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { serviceToken, userToken } from '../../lib/jwt.mjs';
import { closeAll, joinPosition, postEvents, restBroadcast, supabaseClient, tail, uniq, woEvent } from '../../lib/clients.mjs';
import { NODES, arrived, joinOn } from '../../lib/cluster.mjs';

afterEach(closeAll);

const [A, B] = NODES;
const payloads = (got) => got.items.map((m) => m.payload);

const sends = [
  ['ack', true, 'self', false],
  ['ack', false, 'self', false],
  ['ack', true, 'self', true],
  ['ack', false, 'self', true],
];

describe.each(VSNS)('vsn %s: relay ingest on two nodes', (vsn) => {
  test.each(sends)("a client broadcast sent on node a (%s:%s, %s:%s) reaches node b; the sender gets it only with self, once", async (_a, ack, _s, self) => {
    const topic = uniq('room');
    const sender = await joinOn(A, topic, { vsn, token: userToken(), config: { broadcast: { ack, self } }, name: 'sender' });
    const receiver = await joinOn(B, topic, { vsn, token: userToken(), name: 'receiver' });

    const sent = await sender.ch.send({ type: 'broadcast', event: 'ping', payload: { n: 1, from: A.name } });
    expect(sent, `ack ${ack}: the node stored it in the ingest stream\n${tail(sender.c)}`).toBe('ok');
    await arrived(receiver, 1, sender);
    // The marker, from node b once node b has the first: the sender gets it after any copy of its own.
    expect(await receiver.ch.send({ type: 'broadcast', event: 'ping', payload: { n: 2, from: B.name } })).toBe('ok');
    await arrived(sender, self ? 2 : 1, receiver);
    expect(payloads(sender.got)).toEqual(self ? [{ n: 1, from: A.name }, { n: 2, from: B.name }] : [{ n: 2, from: B.name }]);
    expect(sender.got.items[0]).toMatchObject({ type: 'broadcast', event: 'ping' });
    // And the receiver (self false) never got its own marker: a REST broadcast after it is the next thing it sees.
    expect((await restBroadcast([{ topic, event: 'ping', payload: { n: 3 }, private: false }], { baseUrl: A.url })).status).toBe(202);
    await arrived(receiver, 2, sender);
    expect(payloads(receiver.got)).toEqual([{ n: 1, from: A.name }, { n: 3 }]);
  });

  test('a private-channel broadcast of a member on node a reaches a member on node b, never a public subscriber there', async () => {
    const team = uniq('t');
    const topic = `team:${team}`;
    const priv = { private: true };
    const sender = await joinOn(A, topic, { vsn, token: userToken({ teams: [team] }), config: priv, name: 'member a' });
    const member = await joinOn(B, topic, { vsn, token: userToken({ teams: [team] }), config: priv, name: 'member b' });
    const pub = await joinOn(B, topic, { vsn, token: userToken(), name: 'public b' });

    expect(await sender.ch.send({ type: 'broadcast', event: 'secret', payload: { n: 1 } })).toBe('ok');
    await arrived(member, 1, sender);
    // The public marker, from the backend on node a: the public subscriber's first message.
    const res = await restBroadcast([{ topic, event: 'open', payload: { n: 2 }, private: false }], { baseUrl: A.url });
    expect(res.status, res.text).toBe(202);
    await arrived(pub, 1, sender);
    expect(pub.got.items.map((m) => m.event)).toEqual(['open']);
    expect(member.got.items.map((m) => [m.event, m.payload])).toEqual([['secret', { n: 1 }]]);
  });

  test('REST broadcasts taken by node b (service key POST /api/broadcast, a user\'s channel.httpSend and send before joining) reach a subscriber on node a, in order', async () => {
    const topic = uniq('room');
    const sub = await joinOn(A, topic, { vsn, token: userToken(), name: 'subscriber a' });
    const res = await restBroadcast([{ topic, event: 'rest', payload: { via: 'api/broadcast' }, private: false }], {
      token: serviceToken(),
      baseUrl: B.url,
    });
    expect(res.status, res.text).toBe(202);
    await arrived(sub, 1);
    const poster = supabaseClient({ vsn, token: userToken(), url: B.url });
    const r = await poster.client.channel(topic).httpSend('rest', { via: 'httpSend' }, { timeout: 4000 });
    expect(r).toEqual({ success: true });
    // channel.send on a channel not joined: realtime-js falls back to the same REST path (with a warning).
    expect(await poster.client.channel(topic).send({ type: 'broadcast', event: 'rest', payload: { via: 'send' } })).toBe('ok');
    await arrived(sub, 3);
    expect(sub.got.items.map((m) => [m.type, m.event, m.payload])).toEqual([
      ['broadcast', 'rest', { via: 'api/broadcast' }],
      ['broadcast', 'rest', { via: 'httpSend' }],
      ['broadcast', 'rest', { via: 'send' }],
    ]);
  });

  test('POST /v1/events on node a reaches list:wo:<factory> on node b and node a at the same offset; another factory gets nothing', async () => {
    const factory = uniq('fac');
    const other = uniq('fac');
    const topic = `list:wo:${factory}`;
    const onB = await joinOn(B, topic, { vsn, token: userToken({ factories: [factory] }), event: 'invalidate', name: 'scoped b' });
    const onA = await joinOn(A, topic, { vsn, token: userToken({ factories: [factory] }), event: 'invalidate', name: 'scoped a' });
    const foreign = await joinOn(B, `list:wo:${other}`, { vsn, token: userToken({ factories: [other] }), event: 'invalidate', name: 'other factory b' });
    const start = joinPosition(onB.ch.joinReplies[0].response);
    expect(joinPosition(onA.ch.joinReplies[0].response), 'the same position on both nodes').toEqual(start);
    expect(typeof start.epoch).toBe('string');

    const evt = woEvent({ id: uniq('wo'), factoryId: factory, action: 'create', version: 1 });
    const res = await postEvents([evt], { baseUrl: A.url });
    expect(res.status, res.text).toBe(202);
    const [mB] = await arrived(onB, 1, onA);
    const [mA] = await arrived(onA, 1, onB);
    expect(mB.payload).toEqual({ ...evt, offset: (start.offset ?? 0) + 1 });
    expect(mA.payload, 'node a and node b agree on the offset').toEqual(mB.payload);

    // The other factory's own event, posted after: the first thing its subscriber sees.
    const mine = woEvent({ id: uniq('wo'), factoryId: other, action: 'create', version: 1 });
    expect((await postEvents([mine], { baseUrl: A.url })).status).toBe(202);
    await arrived(foreign, 1);
    expect(foreign.got.items.map((m) => m.payload.factoryId)).toEqual([other]);
    expect(JSON.stringify(foreign.got.items)).not.toContain(factory);
  });

  test('50 client broadcasts sent in sequence on node a reach node b (and node a) in order, each once', async () => {
    const topic = uniq('order');
    const n = 50;
    const sender = await joinOn(A, topic, { vsn, token: userToken(), config: { broadcast: { ack: true } }, name: 'sender' });
    const onB = await joinOn(B, topic, { vsn, token: userToken(), name: 'receiver b' });
    const onA = await joinOn(A, topic, { vsn, token: userToken(), name: 'receiver a' });
    for (let i = 0; i < n; i++) {
      expect(await sender.ch.send({ type: 'broadcast', event: 'seq', payload: { i } }), `send ${i}\n${tail(sender.c)}`).toBe('ok');
    }
    // The end marker comes after every copy of the 50.
    expect((await restBroadcast([{ topic, event: 'seq', payload: { i: 'end' }, private: false }], { baseUrl: A.url })).status).toBe(202);
    const want = [...Array.from({ length: n }, (_, i) => ({ i })), { i: 'end' }];
    for (const r of [onB, onA]) {
      await arrived(r, n + 1, sender);
      expect(payloads(r.got), `node ${r.node.name}`).toEqual(want);
    }
  });
});
