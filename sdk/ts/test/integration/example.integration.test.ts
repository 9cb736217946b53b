// The README's minimal example (examples/minimal.mjs) runs as written against a real server, through the
// built package (`@rtcache/sdk` resolves to dist/ by the package's own exports).
import { afterEach, expect, test } from 'vitest';
// @ts-expect-error: a plain ESM example without type declarations
import { watchWorkOrder } from '../../examples/minimal.mjs';
import { serverUnderTest } from './harness.js';
import { postEvents, uniq, until, userToken } from './server.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

test('examples/minimal.mjs: a patch event updates the shown work order; an update without one refetches it', async () => {
  const { url, secret } = serverUnderTest();
  const id = uniq('wo');
  const seen: Array<{ status: string; version: number }> = [];
  let loads = 0;
  const view = watchWorkOrder({
    url,
    token: userToken(secret, ['f1']),
    factoryId: 'f1',
    id,
    load: async () => ({ id, status: loads++ === 0 ? 'open' : 'reloaded', version: loads }),
    onChange: (wo: { status: string; version: number }) => seen.push(wo),
  });
  close = view.close;
  await until(() => view.rt.status().connected && seen.length === 1, 8000, () => `joined and loaded: ${JSON.stringify(view.rt.status())}`);

  // The loaded doc is v1; a patch applies only to the version right after the cached one (v2).
  await postEvents(url, secret, [{ type: 'wo', id, factoryId: 'f1', action: 'approve', version: 2, changedKeys: ['status'], patch: { status: 'approved' } }]);
  await until(() => seen.at(-1)?.status === 'approved', 5000, () => JSON.stringify(seen));
  expect(seen.at(-1)).toEqual({ id, status: 'approved', version: 2 });
  expect(loads).toBe(1);

  await postEvents(url, secret, [{ type: 'wo', id, factoryId: 'f1', action: 'update', version: 3 }]);
  await until(() => seen.at(-1)?.status === 'reloaded', 5000, () => JSON.stringify(seen));
  expect(loads).toBe(2);
});
