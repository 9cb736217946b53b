// End to end with the PostgreSQL source: a committed row change reaches a subscribed supabase-js client as the
// broadcast `invalidate` of the contract (docs/design.md §2–§3): UPDATE on doc:<type>:<id> with changedKeys, patch
// and version; INSERT/DELETE as create/delete on list:<type>:<factory>.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, joinPosition, subscribe, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { closeDb, deleteWo, insertWo, updateWo } from '../../lib/pg.mjs';

afterEach(closeAll);
afterAll(closeDb);

const sorted = (xs) => [...(xs ?? [])].sort();

async function invalidateChannel(vsn, topic, factories = ['f1']) {
  const c = supabaseClient({ vsn, token: userToken({ factories }) });
  const got = collector(topic);
  const ch = c.client.channel(topic).on('broadcast', { event: 'invalidate' }, (m) => got.push(m.payload));
  const sub = await subscribe(ch);
  expect(sub.status, `${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
  return { c, ch, got };
}

describe.each(VSNS)('vsn %s: committed changes become invalidate broadcasts', (vsn) => {
  test('a committed UPDATE reaches doc:wo:<id> with changedKeys, patch, version and the channel offset', async () => {
    const id = uniq('u');
    const { c, ch, got } = await invalidateChannel(vsn, `doc:wo:${id}`);
    const start = joinPosition(ch.joinReplies[0].response);
    const before = await insertWo({ id, qty: 1, notes: 'n0' });
    const [created] = await got.waitFor(1, 8000).catch((err) => {
      throw new Error(`${err.message}\n${tail(c)}`);
    });
    expect(created).toMatchObject({ type: 'wo', id, factoryId: 'f1', action: 'create', version: Number(before.version) });

    const after = await updateWo(id, { qty: 7, status: 'started', internal_notes: 'changed but never sent' });
    const [, e] = await got.waitFor(2, 8000);
    expect(e).toMatchObject({ type: 'wo', id, factoryId: 'f1', action: 'update', version: Number(after.version) });
    expect(Number(after.version)).toBe(Number(before.version) + 1);
    // internal_notes changed too, but a never_send column is not even named.
    expect(sorted(e.changedKeys)).toEqual(['qty', 'status', 'version']);
    expect(e.patch).toEqual({ qty: 7, status: 'started' });
    expect(typeof e.ts).toBe('string');
    expect(Number.isNaN(Date.parse(e.ts))).toBe(false);
    expect([created.offset, e.offset]).toEqual([(start.offset ?? 0) + 1, (start.offset ?? 0) + 2]);
    expect(JSON.stringify(e)).not.toContain('never sent');
  });

  test('an UPDATE of status to an approve value is action approve', async () => {
    const id = uniq('a');
    const { got } = await invalidateChannel(vsn, `doc:wo:${id}`);
    await insertWo({ id });
    await got.waitFor(1, 8000);
    const after = await updateWo(id, { status: 'approved' });
    const [, e] = await got.waitFor(2, 8000);
    expect(e).toMatchObject({ id, action: 'approve', version: Number(after.version), patch: { status: 'approved' } });
  });

  test('INSERT and DELETE reach list:wo:<factory> as create and delete, in commit order', async () => {
    const factory = uniq('fl');
    const { got } = await invalidateChannel(vsn, `list:wo:${factory}`, [factory]);
    const id = uniq('l');
    const inserted = await insertWo({ id, factory, qty: 3 });
    const updated = await updateWo(id, { qty: 4 });
    await deleteWo(id);
    const all = await got.waitFor(3, 8000);
    expect(all.map((e) => [e.id, e.action, e.version])).toEqual([
      [id, 'create', Number(inserted.version)],
      [id, 'update', Number(updated.version)],
      [id, 'delete', Number(updated.version)],
    ]);
    for (const e of all) expect(e).toMatchObject({ type: 'wo', factoryId: factory });
    expect(all.map((e) => e.offset)).toEqual([all[0].offset, all[0].offset + 1, all[0].offset + 2]);
  });
});
