// Relay-only cluster (the relay pass of scripts/compat-cluster.sh: [cluster], no [postgres]): the nodes elect the
// stream's writer with a lease (docs/cluster.md, "Relay ingest"; TTL 3 s). The lease holder — found from the nodes'
// logs, `event=cluster.relay_writer_started` — is killed with SIGKILL. The surviving node keeps accepting relay
// ingest meanwhile (a client broadcast's ack, REST 202: stored in the ingest stream, no writer yet), takes the lease
// over once it expires, and republishes it: its clients get every message once, in order, and the contract channel
// continues at the next offset; then live messages.
// Runs last in its pass (vitest.cluster.config.mjs orders files by name): it leaves one node.
import { afterEach, expect, test } from 'vitest';
import { VSNS } from '../../../lib/env.mjs';
import { userToken } from '../../../lib/jwt.mjs';
import { closeAll, joinPosition, postEvents, restBroadcast, tail, uniq, woEvent } from '../../../lib/clients.mjs';
import { arrived, joinOn, killNode, relayWriter, relayWriterEvents } from '../../../lib/cluster.mjs';

afterEach(closeAll);

test('SIGKILL of the lease holder: broadcasts and events taken by the other node meanwhile reach its clients once the lease moves, once each, in order', async () => {
  const { writer: W, others: [S] } = await relayWriter();
  const startsBefore = relayWriterEvents(S).filter((e) => e === 'started').length;
  const topic = uniq('room');
  const factory = uniq('fac');

  // On the surviving node: a subscriber per vsn, a sender (ack) and a scoped subscriber of list:wo:<factory>.
  const subs = [];
  for (const vsn of VSNS) subs.push(await joinOn(S, topic, { vsn, token: userToken(), name: `subscriber vsn ${vsn}` }));
  const sender = await joinOn(S, topic, { vsn: VSNS[1], token: userToken(), config: { broadcast: { ack: true } }, name: 'sender' });
  const list = await joinOn(S, `list:wo:${factory}`, { vsn: VSNS[0], token: userToken({ factories: [factory] }), event: 'invalidate', name: 'list' });
  const start = joinPosition(list.ch.joinReplies[0].response).offset ?? 0;
  const event = (version) => woEvent({ id: uniq('wo'), factoryId: factory, action: 'create', version });
  const send = async (n) => expect(await sender.ch.send({ type: 'broadcast', event: 'ping', payload: { n } }), `send ${n}\n${tail(sender.c)}`).toBe('ok');

  // While W writes.
  await send(0);
  const events = [event(1)];
  expect((await postEvents(events, { baseUrl: S.url })).status).toBe(202);
  for (const s of subs) await arrived(s, 1, sender);
  await arrived(list, 1);

  const killedAt = Date.now();
  await killNode(W);

  // Taken by S before it writes: stored in the ingest stream, acknowledged.
  await send(1);
  const rest = await restBroadcast([{ topic, event: 'ping', payload: { n: 2 }, private: false }], { baseUrl: S.url });
  expect(rest.status, rest.text).toBe(202);
  events.push(event(2));
  const posted = await postEvents([events[1]], { baseUrl: S.url });
  expect(posted.status, posted.text).toBe(202);

  // S takes the lease over and republishes them.
  await relayWriter(10000, [S]);
  const tookOverAt = Date.now();
  expect(relayWriterEvents(S).filter((e) => e === 'started').length).toBe(startsBefore + 1);
  for (const s of subs) await arrived(s, 3, sender);
  const deliveredAt = Date.now();
  await arrived(list, 2);

  // Live, from the new writer.
  await send(3);
  events.push(event(3));
  expect((await postEvents([events[2]], { baseUrl: S.url })).status).toBe(202);
  for (const s of subs) {
    await arrived(s, 4, sender);
    expect(s.got.items.map((m) => m.payload), s.name).toEqual([0, 1, 2, 3].map((n) => ({ n })));
  }
  await arrived(list, 3);
  expect(list.got.items.map((m) => m.payload)).toEqual(events.map((e, k) => ({ ...e, offset: start + 1 + k })));
  console.log(
    `lease fail-over: killed node ${W.name} (the lease holder); node ${S.name} wrote ${tookOverAt - killedAt} ms later, ` +
      `its clients had what it took meanwhile ${deliveredAt - killedAt} ms after the kill`,
  );
});
