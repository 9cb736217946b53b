// postgres_changes on a plain topic, as Supabase apps bind it: a table plus a filter (eq, in, a comma AND)
// receives exactly the matching rows; event filters; a public table reaches every authenticated user; a binding
// on an unmapped table is refused at join with Supabase's message.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { serviceToken, userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, subscribe, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { closeDb, deleteWo, insertWo, sql, updateWo } from '../../lib/pg.mjs';

afterEach(closeAll);
afterAll(closeDb);

let announcementId = Date.now() * 10;

// One channel with several bindings, each collected on its own.
async function bind(handle, topic, filters) {
  const got = filters.map((_, i) => collector(`${topic} binding ${i}`));
  let channel = handle.client.channel(topic);
  filters.forEach((f, i) => {
    channel = channel.on('postgres_changes', f, (p) => got[i].push(p));
  });
  const sub = await subscribe(channel);
  expect(sub.status, `${sub.error?.message}\n${tail(handle)}`).toBe('SUBSCRIBED');
  return { channel, got };
}

const rows = (got) => got.items.map((p) => [p.eventType, (p.eventType === 'DELETE' ? p.old : p.new).id]);

describe.each(VSNS)('vsn %s: postgres_changes with filters on a plain topic', (vsn) => {
  test('eq, in and a comma AND receive exactly the matching rows', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((k) => uniq(`flt${k}`));
    const mark = uniq('st');
    const h = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const { got } = await bind(h, uniq('room'), [
      { event: '*', schema: 'public', table: 'work_orders', filter: `id=eq.${a}` },
      { event: '*', schema: 'public', table: 'work_orders', filter: `id=in.(${a},${c})` },
      { event: '*', schema: 'public', table: 'work_orders', filter: `status=eq.${mark},qty=gt.5` },
    ]);
    await insertWo({ id: a, qty: 1 }); // eq, in
    await insertWo({ id: b, qty: 9, status: mark }); // AND
    await insertWo({ id: c, qty: 1, status: mark }); // in; AND fails on qty
    await insertWo({ id: d, qty: 2 }); // none
    await updateWo(c, { qty: 6 }); // in, AND
    await updateWo(d, { qty: 7, status: mark }); // AND
    await updateWo(b, { qty: 3 }); // AND fails now (new row), so not delivered
    await deleteWo(a); // eq, in (the old row matches)
    await deleteWo(c); // in, AND (the old row: status=mark, qty=6)
    await deleteWo(b);
    await deleteWo(d); // AND (old row), last: everything before it was routed before it

    await got[2].waitFor(5, 8000);
    await got[0].waitFor(2, 8000);
    await got[1].waitFor(5, 8000);
    expect(rows(got[0])).toEqual([
      ['INSERT', a],
      ['DELETE', a],
    ]);
    expect(rows(got[1])).toEqual([
      ['INSERT', a],
      ['INSERT', c],
      ['UPDATE', c],
      ['DELETE', a],
      ['DELETE', c],
    ]);
    expect(rows(got[2])).toEqual([
      ['INSERT', b],
      ['UPDATE', c],
      ['UPDATE', d],
      ['DELETE', c],
      ['DELETE', d],
    ]);
  });

  test("event: 'UPDATE' receives only updates", async () => {
    const id = uniq('ev');
    const h = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const { got } = await bind(h, uniq('room'), [
      { event: 'UPDATE', schema: 'public', table: 'work_orders', filter: `id=eq.${id}` },
      { event: 'DELETE', schema: 'public', table: 'work_orders', filter: `id=eq.${id}` },
    ]);
    await insertWo({ id });
    const u1 = await updateWo(id, { qty: 1 });
    const u2 = await updateWo(id, { status: 'done' });
    await deleteWo(id);
    await got[1].waitFor(1, 8000);
    expect(got[0].items.map((p) => [p.eventType, p.new.version])).toEqual([
      ['UPDATE', Number(u1.version)],
      ['UPDATE', Number(u2.version)],
    ]);
    expect(got[1].items.map((p) => [p.eventType, p.old.id])).toEqual([['DELETE', id]]);
  });

  test('a public table reaches every authenticated user, never_send columns removed', async () => {
    const users = [
      supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) }),
      supabaseClient({ vsn, token: userToken({ factories: ['f2'] }) }),
      supabaseClient({ vsn, token: userToken({ factories: [] }) }),
      supabaseClient({ vsn, token: serviceToken() }),
    ];
    const bound = [];
    for (const h of users) bound.push(await bind(h, uniq('news'), [{ event: 'INSERT', schema: 'public', table: 'announcements' }]));
    const id = ++announcementId;
    await sql('INSERT INTO announcements (id, body, author_email) VALUES ($1, $2, $3)', [id, 'shift change at 14:00', 'boss@example.com']);
    for (const { got } of bound) {
      const [p] = await got[0].waitFor(1, 8000);
      expect(p).toMatchObject({ eventType: 'INSERT', schema: 'public', table: 'announcements' });
      expect(p.new).toEqual({ id, body: 'shift change at 14:00' });
    }
    await sql('DELETE FROM announcements WHERE id = $1', [id]);
  });

  test('a binding on an unmapped table is refused: CHANNEL_ERROR with the reason', async () => {
    const h = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const channel = h.client.channel(uniq('room')).on('postgres_changes', { event: '*', schema: 'public', table: 'audit_log' }, () => {});
    const sub = await subscribe(channel);
    expect(sub.status, tail(h)).toBe('CHANNEL_ERROR');
    const reason =
      'Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given ' +
      'connect parameters: [event: *, schema: public, table: audit_log, filters: []]';
    expect(channel.joinReplies.find((r) => r.status === 'error')?.response?.reason).toBe(reason);
    expect(sub.error?.message ?? '').toContain('audit_log');
  });
});
