// A row committed in PostgreSQL reaches a supabase-js client on each node of the cluster: the node holding the slot
// writes it to the stream and every node applies the stream to its hub (docs/cluster.md, "serve with [cluster]").
// Both clients get the same `invalidate` broadcasts at the same offsets, and the same postgres_changes; a join names
// the same {epoch, offset} on either node, before and after the rows.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, joinPosition, subscribe, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { closeDb, deleteWo, insertWo, updateWo } from '../../lib/pg.mjs';
import { NODES, readerAndStandby } from '../../lib/cluster.mjs';

afterEach(closeAll);
afterAll(closeDb);

// One supabase-js client on `node`, following doc:wo:<id> the playbook's way: the broadcast `invalidate` and a
// postgres_changes binding on the same channel.
async function follow(vsn, node, id) {
  const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), url: node.url });
  const invalidates = collector(`node ${node.name} invalidate`);
  const changes = collector(`node ${node.name} postgres_changes`);
  const ch = c.client
    .channel(`doc:wo:${id}`)
    .on('broadcast', { event: 'invalidate' }, (m) => invalidates.push(m.payload))
    .on('postgres_changes', { event: '*', schema: 'public' }, (p) => changes.push(p));
  const sub = await subscribe(ch);
  expect(sub.status, `node ${node.name}: ${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
  return { node, c, ch, invalidates, changes };
}

async function joinedAt(vsn, node, topic) {
  const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), url: node.url });
  const ch = c.client.channel(topic);
  const sub = await subscribe(ch);
  expect(sub.status, `node ${node.name}: ${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
  return joinPosition(ch.joinReplies[0].response);
}

describe.each(VSNS)('vsn %s: two cluster nodes, one stream', (vsn) => {
  test('a committed row reaches a client on each node, with the same offsets and the same postgres_changes', async () => {
    // Both nodes serve: one reads the WAL, the other stands by and gets everything from the stream.
    const { reader, standby } = await readerAndStandby();
    expect([reader.name, standby.name].sort()).toEqual(NODES.map((n) => n.name).sort());

    const id = uniq('both');
    const followers = [];
    for (const node of NODES) followers.push(await follow(vsn, node, id));
    const starts = followers.map((f) => joinPosition(f.ch.joinReplies[0].response));
    expect(typeof starts[0].epoch, JSON.stringify(followers[0].ch.joinReplies[0])).toBe('string');
    expect(starts[1], 'an empty channel is at the same position on both nodes').toEqual(starts[0]);

    const inserted = await insertWo({ id, qty: 1 });
    const updated = await updateWo(id, { qty: 2, status: 'started' });

    const got = [];
    for (const f of followers) {
      const why = `node ${f.node.name}\n${tail(f.c)}`;
      const events = await f.invalidates.waitFor(2, 10000).catch((e) => {
        throw new Error(`${e.message}\n${why}`);
      });
      expect(events.map((e) => [e.id, e.action, e.version]), why).toEqual([
        [id, 'create', Number(inserted.version)],
        [id, 'update', Number(updated.version)],
      ]);
      expect(events.map((e) => e.offset), why).toEqual([(starts[0].offset ?? 0) + 1, (starts[0].offset ?? 0) + 2]);
      const changes = await f.changes.waitFor(2, 10000);
      expect(changes.map((p) => [p.eventType, p.new.id, Number(p.new.version)]), why).toEqual([
        ['INSERT', id, Number(inserted.version)],
        ['UPDATE', id, Number(updated.version)],
      ]);
      expect(JSON.stringify(changes)).not.toContain('internal_notes');
      got.push({ events, changes });
    }
    // The same broadcasts (payloads, offsets included) and the same records on both nodes.
    expect(got[1].events).toEqual(got[0].events);
    expect(got[1].changes).toEqual(got[0].changes);

    // A join after the rows names the same position on either node: the stream's, not the process's.
    const later = [];
    for (const node of NODES) later.push(await joinedAt(vsn, node, `doc:wo:${id}`));
    expect(later[0]).toMatchObject({ epoch: starts[0].epoch, offset: (starts[0].offset ?? 0) + 2 });
    expect(later[1]).toEqual(later[0]);
    await deleteWo(id);
  });
});
