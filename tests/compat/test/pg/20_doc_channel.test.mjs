// The playbook's subscribe.ts pattern, verbatim, against real commits:
//   supabase.channel('doc:wo:123').on('postgres_changes', {event:'*', schema:'public'}, cb).subscribe()
// receives row wo/123's INSERT, UPDATE and DELETE — and nothing of the other rows written in between — in
// Supabase's payload shape, with the never_send column absent from records and columns.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, subscribe, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { closeDb, deleteWo, insertWo, rawChanges, sql, updateWo } from '../../lib/pg.mjs';

afterEach(closeAll);
// A failed run must not leave row 123 behind for the next vsn's INSERT.
afterEach(() => sql("DELETE FROM work_orders WHERE id = '123'"));
afterAll(closeDb);

const visible = (row) => ({
  id: row.id,
  factory_id: row.factory_id,
  version: Number(row.version),
  status: row.status,
  qty: row.qty,
});

describe.each(VSNS)('vsn %s: doc:wo:123 with postgres_changes {event:*, schema:public}', (vsn) => {
  test('receives only row wo/123, as Supabase shapes it, without never_send columns', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector('doc:wo:123');
    const channel = c.client
      .channel('doc:wo:123')
      .on('postgres_changes', { event: '*', schema: 'public' }, (payload) => got.push(payload));
    const sub = await subscribe(channel);
    expect(sub.status, `${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');

    // Row 123 and its neighbours: another f1 row, an f2 row, interleaved, in separate transactions.
    const other = uniq('o');
    const foreign = uniq('x');
    await insertWo({ id: other, factory: 'f1' });
    const ins = await insertWo({ id: '123', factory: 'f1', qty: 1, notes: 'n-insert' });
    await insertWo({ id: foreign, factory: 'f2' });
    await updateWo(other, { qty: 9 });
    const before = ins;
    const upd = await updateWo('123', { qty: 2, status: 'started', internal_notes: 'n-update' });
    await updateWo(foreign, { qty: 9 });
    await deleteWo(other);
    const del = await deleteWo('123');
    await deleteWo(foreign);

    const all = await got.waitFor(3, 8000).catch((err) => {
      throw new Error(`${err.message}\n${tail(c)}`);
    });
    // Everything committed before 123's DELETE was routed before it on this one connection: no other row
    // came, and nothing more did.
    expect(all.map((p) => [p.eventType, p.new.id ?? p.old.id])).toEqual([
      ['INSERT', '123'],
      ['UPDATE', '123'],
      ['DELETE', '123'],
    ]);
    const [pi, pu, pd] = all;
    for (const p of all) {
      expect(p).toMatchObject({ schema: 'public', table: 'work_orders', errors: null });
      expect(typeof p.commit_timestamp).toBe('string');
      expect(Number.isNaN(Date.parse(p.commit_timestamp)), p.commit_timestamp).toBe(false);
    }
    expect(pi.new).toEqual(visible(ins));
    expect(pi.old).toEqual({});
    expect(pu.new).toEqual(visible(upd));
    expect(pu.old).toEqual(visible(before));
    expect(pd.new).toEqual({});
    expect(pd.old).toEqual(visible(del));
    expect(JSON.stringify(all)).not.toMatch(/internal_notes|n-insert|n-update/);

    // The wire payload (before realtime-js's callback transformation): columns named with their types,
    // the never_send column absent there too.
    const raw = rawChanges(c, channel.topic);
    expect(raw).toHaveLength(3);
    for (const r of raw) {
      expect(r.ids).toEqual([channel.bindings.postgres_changes[0].id]);
      expect(r.data.columns.map((col) => col.name).sort()).toEqual(['factory_id', 'id', 'qty', 'status', 'version']);
      expect(r.data.columns.find((col) => col.name === 'version')?.type).toBe('int8');
    }
    expect(raw.map((r) => r.data.type)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
    expect(JSON.stringify(raw)).not.toContain('internal_notes');
  });

  test("event: 'UPDATE' on doc:wo:<id> receives the row's updates only", async () => {
    const id = uniq('du');
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector(`doc:wo:${id}`);
    const channel = c.client
      .channel(`doc:wo:${id}`)
      .on('postgres_changes', { event: 'UPDATE', schema: 'public' }, (payload) => got.push(payload));
    expect((await subscribe(channel)).status, tail(c)).toBe('SUBSCRIBED');
    await insertWo({ id });
    const u1 = await updateWo(id, { qty: 1 });
    const u2 = await updateWo(id, { qty: 2 });
    await deleteWo(id);
    // A last row change the binding does get, committed after the DELETE: the DELETE was routed before it.
    await insertWo({ id });
    const u3 = await updateWo(id, { qty: 3 });
    const all = await got.waitFor(3, 8000);
    expect(all.map((p) => [p.eventType, p.new.version])).toEqual([
      ['UPDATE', Number(u1.version)],
      ['UPDATE', Number(u2.version)],
      ['UPDATE', Number(u3.version)],
    ]);
    await deleteWo(id);
  });
});
