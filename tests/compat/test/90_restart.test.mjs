// A server restart loses every channel's history: the client reconnects by itself, and its rejoin (which
// carries its old {epoch, offset}) is answered with a new epoch and recovered:false, so it refetches once.
// Runs last (vitest.config.mjs orders files by name): it restarts the shared server.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { userToken } from '../lib/jwt.mjs';
import { closeAll, collector, joinPosition, postEvents, subscribe, supabaseClient, tail, until, woEvent } from '../lib/clients.mjs';
import { canRestart, startServer, stopServer } from '../lib/server.mjs';

afterEach(closeAll);

describe('server restart', () => {
  test.runIf(canRestart())('clients of both vsn reconnect by themselves; the join reply says not recovered (new epoch)', async () => {
    const clients = [];
    for (const vsn of VSNS) {
      const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), realtime: { reconnectAfterMs: () => 500 } });
      const got = collector(`client ${vsn}`);
      const ch = c.client.channel('doc:wo:123');
      let position = null;
      ch.on('broadcast', { event: 'invalidate' }, (m) => {
        got.push(m);
        position = { epoch: position.epoch, offset: m.payload.offset };
        ch.updateJoinPayload({ rtcache: position });
      });
      const sub = await subscribe(ch);
      expect(sub.status, tail(c)).toBe('SUBSCRIBED');
      const first = joinPosition(ch.joinReplies[0].response);
      position = { epoch: first.epoch, offset: first.offset ?? 0 };
      ch.updateJoinPayload({ rtcache: position });
      clients.push({ vsn, c, ch, got, first, statuses: sub.statuses });
    }
    await postEvents([woEvent({ id: '123', version: 1 })]);
    for (const k of clients) await k.got.waitFor(1);

    await stopServer();
    await startServer();

    for (const k of clients) {
      await until(() => k.ch.joinReplies.length >= 2, 15000, `vsn ${k.vsn}: rejoin after restart\n${tail(k.c)}`);
      const again = joinPosition(k.ch.joinReplies.at(-1).response);
      expect(k.ch.joinReplies.at(-1).status, JSON.stringify(k.ch.joinReplies.at(-1))).toBe('ok');
      expect(again.recovered, JSON.stringify(k.ch.joinReplies.at(-1))).toBe(false);
      expect(typeof again.epoch).toBe('string');
      expect(again.epoch).not.toBe(k.first.epoch);
      expect(k.ch.state).toBe('joined');
    }
    // And the channels are live again.
    await postEvents([woEvent({ id: '123', version: 2 })]);
    for (const k of clients) {
      const all = await k.got.waitFor(2);
      expect(all.at(-1).payload.version).toBe(2);
    }
  });
});
