// Fail-over across the cluster, the way an app behind a load balancer sees it: supabase-js clients of both vsn reach
// the cluster through a TCP balancer (lib/cluster.mjs) that sends them to node A, the node holding the replication
// slot (read from /metrics, so the kill exercises the take-over too). They follow doc:wo:<id> the way an rtcache app
// does, keeping {epoch, offset} in the join payload (test/70_resume). A is killed with SIGKILL; rows are committed
// while the clients are away; node B, the standby, takes the slot over (`rtcache_replication_reader 1`) and writes
// them to the stream. Then the balancer lets the clients back in: they reconnect by themselves, land on B (A refuses),
// rejoin with the position A gave them and get `recovered:true` with exactly the missed rows, once each, in order, at
// the offsets that continue A's — then live rows.
// B holds the document's history because another user of it is on B (`keeper`): its rejoin is answered from B's hub.
// The second channel nobody followed on B: B's hub has no view of it, so the rejoin is answered by exact resume by
// range fetch (docs/cluster.md (h)): B reads the channel's messages from the stream and answers `recovered:true` with
// exactly the missed row, at the offset that continues A's (rtcache_cluster_resume_recovered_total counts it). That
// document is a busy one: 600 updates before the clients join put more of its messages in the stream than a resume
// may fetch (512), so B must start the fetch near the clients' position, not at the stream's start.
// Runs last (vitest.cluster.config.mjs orders files by name): it leaves one node.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, joinPosition, keepPosition, subscribe, supabaseClient, tail, uniq, until } from '../../lib/clients.mjs';
import { closeDb, insertWo, sql, updateWo } from '../../lib/pg.mjs';
import { balancer, killNode, metric, metrics, readerAndStandby } from '../../lib/cluster.mjs';

afterEach(closeAll);
afterAll(closeDb);

// An app's channel: every invalidate remembered, its position kept as an app keeps it (lib/clients.mjs).
function follow(handle, topic) {
  const ch = handle.client.channel(topic);
  const app = { topic, ch, events: collector(`${handle.name} ${topic}`), position: null };
  keepPosition(ch, app, { onInvalidate: (payload) => app.events.push(payload) });
  return app;
}

// The phx_join pushes a client sent on `topic`, with their payloads, from its logger.
const joinsSent = (handle, topic) => handle.log.filter(([, kind, msg]) => kind === 'push' && msg.startsWith(`${topic} phx_join `)).map(([, , , d]) => d);

describe('SIGKILL of the node holding the slot', () => {
  test('clients moved by the balancer from the killed reader to the standby resume recovered:true with exactly the missed rows; the standby took over', async () => {
    const { reader: A, standby: B } = await readerAndStandby();
    const lb = await balancer([A, B]);
    try {
      const id = uniq('fo');
      const lone = uniq('lone');
      const topic = `doc:wo:${id}`;

      // The busy document, applied by both nodes before anyone joins.
      const busy = 600;
      await insertWo({ id: lone, qty: 0 });
      await sql(`DO $$ BEGIN FOR i IN 1..${busy} LOOP UPDATE work_orders SET qty = i, version = version + 1 WHERE id = '${lone}'; END LOOP; END $$`);
      let applied = '';
      await until(
        async () => {
          const now = `${await metric(A, 'rtcache_cluster_last_applied_sequence')} ${await metric(B, 'rtcache_cluster_last_applied_sequence')}`;
          const [a, b] = now.split(' ');
          const still = now === applied && a === b;
          applied = now;
          return still;
        },
        20000,
        'both nodes applied the busy document',
        300,
      );

      // Another user of the document, on B.
      const keeper = supabaseClient({ vsn: VSNS[0], token: userToken({ factories: ['f1'] }), url: B.url });
      keeper.name = 'keeper';
      const kept = follow(keeper, topic);
      expect((await subscribe(kept.ch)).status, tail(keeper)).toBe('SUBSCRIBED');

      // The clients, through the balancer: on A.
      const clients = [];
      for (const vsn of VSNS) {
        const handle = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), url: lb.url, realtime: { reconnectAfterMs: () => 200 } });
        handle.name = `vsn ${vsn}`;
        const doc = follow(handle, topic);
        const other = follow(handle, `doc:wo:${lone}`);
        for (const app of [doc, other]) expect((await subscribe(app.ch)).status, tail(handle)).toBe('SUBSCRIBED');
        clients.push({ vsn, handle, doc, other });
      }
      expect(lb.routed).toEqual(VSNS.map(() => A.name));
      const first = clients.map((c) => joinPosition(c.doc.ch.joinReplies[0].response));
      const base = first[0].offset ?? 0;
      const firstLone = clients.map((c) => joinPosition(c.other.ch.joinReplies[0].response));
      const baseLone = firstLone[0].offset ?? 0;
      expect(joinPosition(kept.ch.joinReplies[0].response), 'the same position on both nodes').toEqual(first[0]);
      expect(first[1]).toEqual(first[0]);

      // Live rows on A (committed after every join: none of them is in a join's position).
      expect(baseLone, 'the busy document has more messages in the stream than a resume may fetch').toBeGreaterThan(512);
      const live = [await insertWo({ id, qty: 1 }), await updateWo(id, { qty: 2 }), await updateWo(lone, { qty: busy + 1 })];
      for (const c of clients) {
        await c.doc.events.waitFor(2, 10000).catch((e) => {
          throw new Error(`${e.message}\n${tail(c.handle)}`);
        });
        await c.other.events.waitFor(1, 10000);
      }
      await kept.events.waitFor(2, 10000);
      const before = clients.map((c) => c.doc.events.items.map((e) => e.offset));
      expect(before[0]).toEqual([base + 1, base + 2]);
      expect(before[1]).toEqual(before[0]);

      // Kill A; the balancer lets nobody back in until the missed rows are in B's hub.
      lb.hold();
      const killedAt = Date.now();
      await killNode(A);
      for (const c of clients) await until(() => !c.handle.realtime.isConnected(), 5000, `${c.handle.name}: socket closed after the kill`);

      // Rows committed while the clients are away.
      const missed = [];
      for (const qty of [3, 4, 5]) missed.push(await updateWo(id, { qty }));
      const missedLone = await updateWo(lone, { qty: 2 });

      // B takes the slot over and writes them to the stream; its keeper gets them.
      let m = {};
      await until(
        async () => {
          m = await metrics(B);
          return m.rtcache_replication_reader === 1 && m.rtcache_replication_connected === 1;
        },
        30000,
        `node ${B.name} holding the slot after node ${A.name}'s kill`,
      ).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(m)}`);
      });
      const tookOverAt = Date.now();
      expect(m.rtcache_replication_reader_starts_total).toBeGreaterThanOrEqual(1);
      await kept.events.waitFor(5, 20000);
      const inB = Date.now();
      expect(kept.events.items.map((e) => e.version)).toEqual([...live.slice(0, 2), ...missed].map((r) => Number(r.version)));
      for (const c of clients) {
        expect(c.handle.realtime.isConnected(), `${c.handle.name} came back before the rows: the test cannot prove resume`).toBe(false);
      }

      // Let the clients back in: they reconnect and rejoin by themselves, on B, with A's position.
      lb.release();
      for (const c of clients) {
        for (const app of [c.doc, c.other]) {
          await until(() => app.ch.joinReplies.length >= 2, 20000, `${c.handle.name}: rejoin of ${app.topic}\n${tail(c.handle)}`);
        }
      }
      const rejoinedAt = Date.now();
      expect(lb.routed.slice(VSNS.length).every((n) => n === B.name), JSON.stringify(lb.routed)).toBe(true);

      for (const [i, c] of clients.entries()) {
        const why = `${c.handle.name}\n${tail(c.handle)}`;
        // The rejoin carried A's position.
        const sent = joinsSent(c.handle, c.doc.ch.topic).at(-1)?.rtcache;
        expect(sent, JSON.stringify(joinsSent(c.handle, c.doc.ch.topic))).toEqual({ epoch: first[i].epoch, offset: before[i][1] });
        const rejoin = c.doc.ch.joinReplies[1];
        expect(rejoin.status, why).toBe('ok');
        const again = joinPosition(rejoin.response);
        expect(again.recovered, JSON.stringify(rejoin)).toBe(true);
        expect(again.epoch).toBe(first[i].epoch);
        // Exactly the missed rows, in order, at the offsets that continue A's.
        const all = await c.doc.events.waitFor(5, 10000).catch((e) => {
          throw new Error(`${e.message}\n${why}`);
        });
        expect(all.slice(2).map((e) => [e.id, e.action, e.version, e.offset]), why).toEqual(
          missed.map((r, k) => [id, 'update', Number(r.version), before[i][1] + 1 + k]),
        );
        expect(all.slice(2), 'the same events the keeper got on B').toEqual(kept.events.items.slice(2));
        expect(c.doc.ch.state).toBe('joined');

        // The channel nobody followed on B: resumed from the stream, with exactly the missed row.
        const lonely = joinPosition(c.other.ch.joinReplies[1].response);
        expect(c.other.ch.joinReplies[1].status, why).toBe('ok');
        expect(lonely.recovered, JSON.stringify(c.other.ch.joinReplies[1])).toBe(true);
        expect(lonely.epoch).toBe(firstLone[i].epoch);
        const lonesMissed = await c.other.events.waitFor(2, 10000).catch((e) => {
          throw new Error(`${e.message}\n${why}`);
        });
        expect(lonesMissed.map((e) => [e.version, e.offset]), why).toEqual([
          [Number(live[2].version), baseLone + 1],
          [Number(missedLone.version), baseLone + 2],
        ]);
      }
      const resumed = await metrics(B);
      expect(resumed.rtcache_cluster_resume_fetches_total, JSON.stringify(resumed)).toBeGreaterThanOrEqual(1);
      expect(resumed.rtcache_cluster_resume_recovered_total, JSON.stringify(resumed)).toBeGreaterThanOrEqual(1);
      expect(resumed.rtcache_cluster_resume_too_many_total, JSON.stringify(resumed)).toBe(0);

      // Then live rows from B, and nothing twice: the live row is the last thing on each channel.
      const after = await updateWo(id, { qty: 6 });
      const afterLone = await updateWo(lone, { qty: 3 });
      for (const c of clients) {
        const all = await c.doc.events.waitFor(6, 10000);
        const why = `${c.handle.name}\n${tail(c.handle)}`;
        expect(all.map((e) => e.version), why).toEqual([...live.slice(0, 2), ...missed, after].map((r) => Number(r.version)));
        const offsets = all.map((e) => e.offset);
        expect(offsets, why).toEqual(offsets.map((_, k) => base + 1 + k));
        const others = await c.other.events.waitFor(3, 10000);
        expect(others.map((e) => e.version), why).toEqual([live[2], missedLone, afterLone].map((r) => Number(r.version)));
        expect(others.map((e) => e.offset), why).toEqual([baseLone + 1, baseLone + 2, baseLone + 3]);
        expect(others[2].offset).toBe(joinPosition(c.other.ch.joinReplies[1].response).offset + 1);
      }
      console.log(
        `fail-over: killed node ${A.name} (the slot holder); node ${B.name} held the slot ${tookOverAt - killedAt} ms later, ` +
          `had the 3 missed rows ${inB - killedAt} ms after the kill; clients released and rejoined in ${rejoinedAt - inB} ms; ` +
          `balancer routes ${lb.routed.join(',')}`,
      );
    } finally {
      await lb.close();
    }
  });
});
