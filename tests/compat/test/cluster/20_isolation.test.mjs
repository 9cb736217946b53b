// Factory scope holds on every node, the one that does not read the WAL included: a user scoped to f1 never receives
// an f2 row on any node — not on the f2 row's doc channel, not through a filter naming f2, not through a table-wide
// binding — while an unscoped service_role client on the same node and bindings does (so the absence means
// something). The last commit is an f1 row every f1 binding receives: everything before it was applied before it.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../../lib/env.mjs';
import { serviceToken, userToken } from '../../lib/jwt.mjs';
import { closeAll, supabaseClient, tail, uniq } from '../../lib/clients.mjs';
import { factoryOf, scopeSpy } from '../../lib/scope.mjs';
import { closeDb, deleteWo, insertWo, updateWo } from '../../lib/pg.mjs';
import { NODES, readerAndStandby } from '../../lib/cluster.mjs';

afterEach(closeAll);
afterAll(closeDb);

const cases = NODES.flatMap((node) => VSNS.map((vsn) => [node.name, vsn, node]));

describe.each(cases)('node %s, vsn %s: factory scope on replicated rows', (_name, vsn, node) => {
  test('an f1 user never receives f2 rows on any binding or channel of this node; service_role does', async () => {
    const { reader } = await readerAndStandby();
    const role = node === reader ? 'the slot holder' : 'a standby';
    const foreign = uniq('f2row');
    const sentinel = uniq('f1row');
    const room = uniq('spy');
    const user = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }), url: node.url });
    const admin = supabaseClient({ vsn, token: serviceToken(), url: node.url });
    const userSeen = await scopeSpy(user, foreign, room, [foreign, sentinel]);
    const adminSeen = await scopeSpy(admin, foreign, room, [foreign, sentinel]);

    await insertWo({ id: foreign, factory: 'f2', qty: 1 });
    await updateWo(foreign, { qty: 2, status: 'approved' });
    await deleteWo(foreign);
    await insertWo({ id: sentinel, factory: 'f1' });

    // The f1 sentinel reaches the user's table-wide binding; f2's three changes reached the admin on doc
    // (3 invalidate + 3 records), filter-f2 (3) and table (3 + the sentinel).
    await userSeen.waitFor(1, 10000).catch((e) => {
      throw new Error(`node ${node.name} (${role}): ${e.message}\n${tail(user)}`);
    });
    await adminSeen.waitFor(13, 10000).catch((e) => {
      throw new Error(`node ${node.name} (${role}): ${e.message}\n${tail(admin)}`);
    });
    const adminTags = adminSeen.items.filter((x) => factoryOf(x) === 'f2').map((x) => x.tag).sort();
    expect(adminTags).toEqual(
      ['doc-pg', 'doc-pg', 'doc-pg', 'doc-invalidate', 'doc-invalidate', 'doc-invalidate', 'filter-f2', 'filter-f2', 'filter-f2',
        'table', 'table', 'table'].sort(),
    );

    expect(userSeen.items.filter((x) => factoryOf(x) !== 'f1'), `node ${node.name} (${role}): ${JSON.stringify(userSeen.items)}`).toEqual([]);
    expect(userSeen.items.map((x) => [x.tag, factoryOf(x), x.new?.id])).toEqual([['table', 'f1', sentinel]]);
    expect(JSON.stringify(userSeen.items)).not.toContain(foreign);
    await deleteWo(sentinel);
  });
});
