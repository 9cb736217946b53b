// Resume by offset (docs/design.md §5): a client that drops and rejoins with channel.updateJoinPayload({rtcache:
// {epoch, offset}}) gets exactly the events it missed, in order, then live ones.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { serviceToken, userToken } from '../lib/jwt.mjs';
import {
  closeAll,
  collector,
  joinPosition,
  postEvents,
  sleep,
  subscribe,
  supabaseClient,
  tail,
  uniq,
  until,
  woEvent,
} from '../lib/clients.mjs';

afterEach(closeAll);

describe.each(VSNS)('vsn %s: reconnect and resume', (vsn) => {
  test('after a drop, the rejoin with {epoch, offset} receives exactly the 3 missed events in order', async () => {
    const id = uniq('rs');
    const topic = `doc:wo:${id}`;
    // Another subscriber keeps the channel alive while the client is away (the lone-subscriber case, where
    // the channel lingers idle with its history, is the next test).
    const keeper = supabaseClient({ vsn, token: serviceToken() });
    const kept = collector('keeper');
    const chK = keeper.client.channel(topic).on('broadcast', { event: 'invalidate' }, (m) => kept.push(m));
    expect((await subscribe(chK)).status, tail(keeper)).toBe('SUBSCRIBED');

    // The client reconnects on its own after a fixed 1.5 s: long enough to post while it is away.
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), realtime: { reconnectAfterMs: () => 1500 } });
    const got = collector('client');
    const ch = c.client.channel(topic);
    let position = null;
    ch.on('broadcast', { event: 'invalidate' }, (m) => {
      got.push(m);
      // What an rtcache SDK does: remember the last offset in the join payload of every later (re)join.
      position = { epoch: position.epoch, offset: m.payload.offset };
      ch.updateJoinPayload({ rtcache: position });
    });
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    const first = joinPosition(ch.joinReplies[0].response);
    expect(typeof first.epoch, JSON.stringify(ch.joinReplies[0])).toBe('string');
    expect(first.recovered).toBe(false);
    position = { epoch: first.epoch, offset: first.offset ?? 0 };
    ch.updateJoinPayload({ rtcache: position });

    await postEvents([woEvent({ id, version: 1 })]);
    const [e1] = await got.waitFor(1);
    expect(position).toEqual({ epoch: first.epoch, offset: e1.payload.offset });

    // Drop the connection (not a manual disconnect: realtime-js reconnects and rejoins by itself).
    c.realtime.conn.close(4000, 'compat: simulated drop');
    await until(() => !c.realtime.isConnected(), 1000, 'socket closed');
    const missed = [2, 3, 4].map((version) => woEvent({ id, version, changedKeys: ['qty'] }));
    for (const e of missed) {
      const r = await postEvents([e]);
      expect(r.status, r.text).toBeLessThan(300);
    }
    await kept.waitFor(4);
    expect(c.realtime.isConnected(), 'the client reconnected before the events were posted: test cannot prove resume').toBe(false);

    // realtime-js reconnects and rejoins; the rejoin carries {epoch, offset}.
    await until(() => ch.joinReplies.length >= 2, 10000, `rejoin\n${tail(c)}`);
    const again = joinPosition(ch.joinReplies[1].response);
    expect(again.recovered, JSON.stringify(ch.joinReplies[1])).toBe(true);
    expect(again.epoch).toBe(first.epoch);
    const all = await got.waitFor(4);
    expect(all.slice(1).map((m) => m.payload)).toEqual(
      missed.map((e, i) => ({ ...e, offset: e1.payload.offset + 1 + i })),
    );

    // Then live ones, with no duplicate of the replay.
    await postEvents([woEvent({ id, version: 5 })]);
    await got.waitFor(5);
    await sleep(200);
    expect(got.items.map((m) => m.payload.version)).toEqual([1, 2, 3, 4, 5]);
  });

  test('a lone subscriber (nobody else on the channel) resumes: the idle channel lingers with its history', async () => {
    const id = uniq('lone');
    const topic = `doc:wo:${id}`;
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), realtime: { reconnectAfterMs: () => 1500 } });
    const got = collector('client');
    const ch = c.client.channel(topic);
    let position = null;
    ch.on('broadcast', { event: 'invalidate' }, (m) => {
      got.push(m);
      position = { epoch: position.epoch, offset: m.payload.offset };
      ch.updateJoinPayload({ rtcache: position });
    });
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    const first = joinPosition(ch.joinReplies[0].response);
    position = { epoch: first.epoch, offset: first.offset ?? 0 };
    ch.updateJoinPayload({ rtcache: position });

    await postEvents([woEvent({ id, version: 1 })]);
    const [e1] = await got.waitFor(1);

    // The only subscriber drops: the channel has no subscriber while the next events are posted.
    c.realtime.conn.close(4000, 'compat: simulated drop');
    await until(() => !c.realtime.isConnected(), 1000, 'socket closed');
    const missed = [2, 3].map((version) => woEvent({ id, version, changedKeys: ['qty'] }));
    for (const e of missed) {
      const r = await postEvents([e]);
      expect(r.status, r.text).toBeLessThan(300);
    }
    expect(c.realtime.isConnected(), 'the client reconnected before the events were posted: test cannot prove resume').toBe(false);

    await until(() => ch.joinReplies.length >= 2, 10000, `rejoin\n${tail(c)}`);
    const again = joinPosition(ch.joinReplies[1].response);
    expect(again.recovered, JSON.stringify(ch.joinReplies[1])).toBe(true);
    expect(again.epoch).toBe(first.epoch);
    const all = await got.waitFor(3);
    expect(all.slice(1).map((m) => m.payload)).toEqual(
      missed.map((e, i) => ({ ...e, offset: e1.payload.offset + 1 + i })),
    );
    await sleep(200);
    expect(got.items.map((m) => m.payload.version)).toEqual([1, 2, 3]);
  });

  test('a rejoin with an unknown epoch is not recovered and replays nothing', async () => {
    const id = uniq('rs');
    const topic = `doc:wo:${id}`;
    const keeper = supabaseClient({ vsn, token: serviceToken() });
    const chK = keeper.client.channel(topic);
    expect((await subscribe(chK)).status, tail(keeper)).toBe('SUBSCRIBED');
    await postEvents([woEvent({ id, version: 1 }), woEvent({ id, version: 2 })]);

    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector('client');
    const ch = c.client.channel(topic).on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    ch.updateJoinPayload({ rtcache: { epoch: 'not-an-epoch', offset: 0 } });
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');
    expect(joinPosition(ch.joinReplies[0].response).recovered, JSON.stringify(ch.joinReplies[0])).toBe(false);
    await sleep(300);
    expect(got.items).toHaveLength(0);
  });

  test('a malformed resume position is refused with a reason, not ignored', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const ch = c.client.channel('doc:wo:123');
    ch.updateJoinPayload({ rtcache: { epoch: 'e', offset: -1 } });
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('CHANNEL_ERROR');
    expect(ch.joinReplies.find((r) => r.status === 'error')?.response?.reason).toMatch(/rtcache\.offset|offset/);
  });
});
