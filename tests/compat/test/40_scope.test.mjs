// Factory scope (docs/design.md §4): list:/factory: joins outside the scope are refused; a doc: join is allowed
// but never delivers an event of a factory outside the scope.
import { afterEach, describe, expect, test } from 'vitest';
import { VSNS } from '../lib/env.mjs';
import { serviceToken, userToken } from '../lib/jwt.mjs';
import { closeAll, collector, postEvents, sleep, subscribe, supabaseClient, tail, woEvent } from '../lib/clients.mjs';

afterEach(closeAll);

describe.each(VSNS)('vsn %s: factory scope', (vsn) => {
  for (const topic of ['list:wo:f2', 'factory:f2']) {
    test(`a client scoped to f1 joining ${topic} gets CHANNEL_ERROR`, async () => {
      const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
      const ch = c.client.channel(topic);
      const sub = await subscribe(ch);
      expect(sub.status, tail(c)).toBe('CHANNEL_ERROR');
      const refusal = ch.joinReplies.find((r) => r.status === 'error');
      expect(refusal?.response?.reason, JSON.stringify(ch.joinReplies)).toMatch(/Unauthorized/);
    });
  }

  test('a client scoped to f1 may join list:wo:f1 and factory:f1', async () => {
    const c = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    expect((await subscribe(c.client.channel('list:wo:f1'))).status, tail(c)).toBe('SUBSCRIBED');
    expect((await subscribe(c.client.channel('factory:f1'))).status, tail(c)).toBe('SUBSCRIBED');
  });

  test('on doc:wo:999 an f1 client never receives an f2 event, while a service_role client does', async () => {
    const user = supabaseClient({ vsn, token: userToken({ factories: ['f1'] }) });
    const svc = supabaseClient({ vsn, token: serviceToken() });
    const gotUser = collector('user');
    const gotSvc = collector('service');
    const chU = user.client.channel('doc:wo:999').on('broadcast', { event: 'invalidate' }, (m) => gotUser.push(m));
    const chS = svc.client.channel('doc:wo:999').on('broadcast', { event: 'invalidate' }, (m) => gotSvc.push(m));
    expect((await subscribe(chU)).status, tail(user)).toBe('SUBSCRIBED');
    expect((await subscribe(chS)).status, tail(svc)).toBe('SUBSCRIBED');

    const foreign = woEvent({ id: '999', factoryId: 'f2', action: 'update', version: 1 });
    const mine = woEvent({ id: '999', factoryId: 'f1', action: 'update', version: 2 });
    const res = await postEvents([foreign]);
    expect(res.status, res.text).toBeLessThan(300);
    // The service_role client proves the f2 event was published on doc:wo:999.
    const [s1] = await gotSvc.waitFor(1);
    expect(s1.payload).toMatchObject(foreign);
    // A later f1 event on the same channel is a marker: deliveries follow offset order, so once it is
    // here the f2 event would have arrived before it.
    await postEvents([mine]);
    await gotSvc.waitFor(2);
    const [u1] = await gotUser.waitFor(1);
    await sleep(150);
    expect(u1.payload).toMatchObject(mine);
    expect(gotUser.items.map((m) => m.payload.factoryId)).toEqual(['f1']);
  });

  test('service_role may join any factory channel', async () => {
    const svc = supabaseClient({ vsn, token: serviceToken() });
    expect((await subscribe(svc.client.channel('list:wo:f2'))).status, tail(svc)).toBe('SUBSCRIBED');
  });
});
