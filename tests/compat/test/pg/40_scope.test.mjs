// Factory scope, adversarially, with real commits: a user scoped to f1 never receives a row of f2 — not on
// f2 rows' doc channels, not through a filter naming f2, not through a table-wide binding — while an unscoped
// service_role client on the same bindings does (so the absence means something). The last commit is an f1
// row every f1 binding receives: everything committed before it was routed before it on the connection.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { serviceToken, userToken } from '../../lib/jwt.mjs';
import { closeAll, collector, subscribe, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { factoryOf, scopeSpy } from '../../lib/scope.mjs';
import { closeDb, deleteWo, insertWo, updateWo } from '../../lib/pg.mjs';

afterEach(closeAll);
afterAll(closeDb);

describe.each(VSNS)('vsn %s: factory scope on replicated rows', (vsn) => {
  test('an f1 user never receives f2 rows on any binding or channel; service_role does', async () => {
    const foreign = uniq('f2row');
    const sentinel = uniq('f1row');
    const room = uniq('spy');
    const user = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const admin = supabaseClient({ vsn, token: serviceToken() });
    const userSeen = await scopeSpy(user, foreign, room, [foreign, sentinel], { idFilter: true, schemaWide: true });
    const adminSeen = await scopeSpy(admin, foreign, room, [foreign, sentinel], { idFilter: true, schemaWide: true });

    await insertWo({ id: foreign, factory: 'f2', qty: 1 });
    await updateWo(foreign, { qty: 2, status: 'approved' });
    await deleteWo(foreign);
    await insertWo({ id: sentinel, factory: 'f1' });

    // The f1 sentinel reaches the user's table-wide and schema-wide bindings; f2's three changes reached the
    // admin on doc (3 invalidate + 3 records), filter-f2 (3), filter-id (3), table (3 + sentinel), schema (3 + sentinel).
    await userSeen.waitFor(2, 8000).catch((e) => {
      throw new Error(`${e.message}\n${tail(user)}`);
    });
    await adminSeen.waitFor(20, 8000);
    const adminTags = adminSeen.items.filter((x) => factoryOf(x) === 'f2').map((x) => x.tag).sort();
    expect(adminTags).toEqual(
      ['doc-pg', 'doc-pg', 'doc-pg', 'doc-invalidate', 'doc-invalidate', 'doc-invalidate', 'filter-f2', 'filter-f2', 'filter-f2',
        'filter-id', 'filter-id', 'filter-id', 'table', 'table', 'table', 'schema', 'schema', 'schema'].sort(),
    );

    expect(userSeen.items.filter((x) => factoryOf(x) !== 'f1'), JSON.stringify(userSeen.items)).toEqual([]);
    expect(userSeen.items.map((x) => [x.tag, factoryOf(x), x.new?.id]).sort()).toEqual([
      ['schema', 'f1', sentinel],
      ['table', 'f1', sentinel],
    ]);
    expect(JSON.stringify(userSeen.items)).not.toContain(foreign);
    await deleteWo(sentinel);
  });

  // issue 11, finding 9: the new owner of a moved row used to get the UPDATE, whose old record is the row as it
  // was in the factory it left.
  test('a row moved from f1 to f2 reaches f2 as an INSERT without the old values, and f1 as a DELETE', async () => {
    const id = uniq('moved');
    const watch = async (handle) => {
      const seen = collector('move');
      const channels = [
        handle.client
          .channel(`doc:wo:${id}`)
          .on('postgres_changes', { event: '*', schema: 'public' }, (p) => seen.push({ tag: 'doc', ...p })),
        handle.client
          .channel(uniq('move-table'))
          .on('postgres_changes', { event: '*', schema: 'public', table: 'work_orders', filter: `id=eq.${id}` }, (p) =>
            seen.push({ tag: 'table', ...p }),
          ),
      ];
      for (const ch of channels) expect((await subscribe(ch)).status, tail(handle)).toBe('SUBSCRIBED');
      return seen;
    };
    const oldOwner = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const newOwner = supabaseClient({ vsn, token: userToken({ factories: ['f2'] }) });
    const oldSeen = await watch(oldOwner);
    const newSeen = await watch(newOwner);

    await insertWo({ id, factory: 'f1', status: 'f1-only-status', qty: 3 });
    await updateWo(id, { factory_id: 'f2', status: 'open', qty: 7 });

    // f1: its insert, then the DELETE of the row as it left (doc channel and table binding each).
    await oldSeen.waitFor(4, 8000).catch((e) => {
      throw new Error(`${e.message}\n${tail(oldOwner)}`);
    });
    const gone = oldSeen.items.filter((x) => x.eventType === 'DELETE');
    expect(gone.map((x) => x.tag).sort()).toEqual(['doc', 'table']);
    for (const x of gone) expect(x.old).toMatchObject({ id, factory_id: 'f1', qty: 3 });
    expect(JSON.stringify(oldSeen.items)).not.toContain('"f2"');
    // f2: the row arriving, as an INSERT of its new values; nothing of what it was in f1.
    await newSeen.waitFor(2, 8000).catch((e) => {
      throw new Error(`${e.message}\n${tail(newOwner)}`);
    });
    expect(newSeen.items.map((x) => [x.tag, x.eventType]).sort()).toEqual([
      ['doc', 'INSERT'],
      ['table', 'INSERT'],
    ]);
    for (const x of newSeen.items) {
      expect(x.new).toMatchObject({ id, factory_id: 'f2', status: 'open', qty: 7 });
      expect(x.old).toEqual({});
    }
    expect(JSON.stringify(newSeen.items)).not.toContain('f1-only-status');
    expect(JSON.stringify(newSeen.items)).not.toContain('"f1"');
    await deleteWo(id);
  });
});
