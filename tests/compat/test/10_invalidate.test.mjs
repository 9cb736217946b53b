// Contract events posted by a backend reach a subscribed supabase-js client as the broadcast `invalidate`.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { userToken } from '../lib/jwt.mjs';
import { closeAll, collector, postEvents, subscribe, supabaseClient, tail, woEvent } from '../lib/clients.mjs';

afterEach(closeAll);

describe.each(VSNS)('vsn %s: invalidate', (vsn) => {
  test('doc:wo:123 reaches SUBSCRIBED and receives exactly the posted event, with an offset', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector('invalidate');
    const ch = c.client.channel('doc:wo:123').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    const sub = await subscribe(ch);
    expect(sub.status, tail(c)).toBe('SUBSCRIBED');

    const evt = woEvent({ id: '123', factoryId: 'f1', action: 'update', version: 7, changedKeys: ['status'] });
    const res = await postEvents([evt]);
    expect(res.status, res.text).toBeGreaterThanOrEqual(200);
    expect(res.status, res.text).toBeLessThan(300);

    const [m] = await got.waitFor(1);
    expect(m.type).toBe('broadcast');
    expect(m.event).toBe('invalidate');
    expect(m.payload).toEqual({ ...evt, offset: expect.any(Number) });
    expect(Number.isInteger(m.payload.offset) && m.payload.offset >= 1).toBe(true);
    // Field order is the canonical encoding's (type, id, factoryId, action, changedKeys, version, ts, offset).
    expect(Object.keys(m.payload)).toEqual(['type', 'id', 'factoryId', 'action', 'changedKeys', 'version', 'ts', 'offset']);

    // A second event: offsets increase by one per message of the channel.
    await postEvents(woEvent({ id: '123', factoryId: 'f1', action: 'approve', version: 8 }));
    const all = await got.waitFor(2);
    expect(all[1].payload.action).toBe('approve');
    expect(all[1].payload.offset).toBe(m.payload.offset + 1);
    // Nothing else arrives (no duplicate).
    await new Promise((r) => setTimeout(r, 200));
    expect(got.items).toHaveLength(2);
  });

  test('an event for another document does not reach doc:wo:123', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector('invalidate');
    const ch = c.client.channel('doc:wo:123').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    await postEvents([woEvent({ id: '124', factoryId: 'f1', version: 1 }), woEvent({ id: '123', factoryId: 'f1', version: 2 })]);
    const [m] = await got.waitFor(1);
    expect(m.payload.id).toBe('123');
    await new Promise((r) => setTimeout(r, 200));
    expect(got.items).toHaveLength(1);
  });

  test('list:wo:f1 receives a create of a wo in f1', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const got = collector('invalidate');
    const ch = c.client.channel('list:wo:f1').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    const evt = woEvent({ id: 'new-1', factoryId: 'f1', action: 'create', version: 1 });
    await postEvents([evt]);
    const [m] = await got.waitFor(1);
    expect(m.payload).toEqual({ ...evt, offset: expect.any(Number) });
  });

  test('POST /v1/events without a service_role token is refused', async () => {
    const res = await postEvents([woEvent()], { token: userToken({ factories: ['f1'] }) });
    expect([401, 403], res.text).toContain(res.status);
  });
});
