// Factory scope seen from a client (test/pg/40_scope, test/cluster/20_isolation): every binding through which a row
// of another factory could reach it, with each callback landing in one list tagged with its binding.
import { expect } from 'vitest';
import { collector, subscribe, tail } from './clients.mjs';

// Subscribes `handle`'s client to doc:wo:<foreignId> ('doc-pg' for postgres_changes, 'doc-invalidate' for
// invalidates), `${room}-filter` with factory_id=eq.f2 ('filter-f2') and `${room}-table`, the whole table
// ('table'); with `idFilter` also id=in.(<foreignId>) on the filter channel ('filter-id'), with `schemaWide` also
// `${room}-schema`, every table of every schema ('schema'). Only rows whose id is in `ids` are kept: earlier files'
// last deletes may still be on their way to a table-wide binding when it joins.
export async function scopeSpy(handle, foreignId, room, ids, { idFilter = false, schemaWide = false } = {}) {
  const seen = collector('seen');
  const keep = (x) => {
    if (ids.includes(x.id ?? (x.eventType === 'DELETE' ? x.old : x.new)?.id)) seen.push(x);
  };
  const tagged = (tag) => (p) => keep({ tag, ...p });
  const doc = handle.client
    .channel(`doc:wo:${foreignId}`)
    .on('postgres_changes', { event: '*', schema: 'public' }, tagged('doc-pg'))
    .on('broadcast', { event: 'invalidate' }, (m) => keep({ tag: 'doc-invalidate', ...m.payload }));
  const filter = handle.client
    .channel(`${room}-filter`)
    .on('postgres_changes', { event: '*', schema: 'public', table: 'work_orders', filter: 'factory_id=eq.f2' }, tagged('filter-f2'));
  if (idFilter) {
    filter.on('postgres_changes', { event: '*', schema: 'public', table: 'work_orders', filter: `id=in.(${foreignId})` }, tagged('filter-id'));
  }
  const table = handle.client.channel(`${room}-table`).on('postgres_changes', { event: '*', schema: 'public', table: 'work_orders' }, tagged('table'));
  const channels = [doc, filter, table];
  if (schemaWide) channels.push(handle.client.channel(`${room}-schema`).on('postgres_changes', { event: '*', schema: '*' }, tagged('schema')));
  for (const ch of channels) {
    const sub = await subscribe(ch);
    expect(sub.status, `${ch.topic}: ${sub.error?.message}\n${tail(handle)}`).toBe('SUBSCRIBED');
  }
  return seen;
}

// The factory of what a binding delivered: an invalidate's factoryId, else the row's factory_id.
export const factoryOf = (x) => x.factoryId ?? (x.eventType === 'DELETE' ? x.old : x.new)?.factory_id;
