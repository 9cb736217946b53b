// The factory API over fetch, with the user's bearer token. Every read goes through TanStack Query; writes
// return nothing to the cache: their effect comes back through PostgreSQL -> rtcache -> the SDK.
export type Doc = { id: number; factory_id: string; version: number; status: string; [column: string]: unknown };
export type Page = { items: Doc[]; page: number; pageSize: number; total: number };

export const DOC_TYPES = [
  { type: 'wo', label: 'Work orders', ref: 'number' },
  { type: 'pl', label: 'Packing lists', ref: 'number' },
  { type: 'dn', label: 'Delivery notes', ref: 'number' },
  { type: 'grn', label: 'Goods received', ref: 'number' },
  { type: 'lot', label: 'Lots', ref: 'code' },
  { type: 'pu', label: 'Purchases', ref: 'number' },
  { type: 'invoice', label: 'Invoices', ref: 'number' },
  { type: 'price_list', label: 'Price lists', ref: 'name' },
] as const;

// A new document's required columns, per type (the rest take the schema's defaults).
export function newDocBody(type: string, factory: string): Record<string, unknown> {
  const n = `${Date.now() % 1_000_000}`;
  const base: Record<string, Record<string, unknown>> = {
    wo: { number: `WO-NEW-${n}`, product: 'Gearbox G7', quantity: 10 },
    pl: { number: `PL-NEW-${n}`, customer: 'Acme GmbH' },
    dn: { number: `DN-NEW-${n}`, carrier: 'DHL', destination: 'Hamburg' },
    grn: { number: `GRN-NEW-${n}`, supplier: 'SteelCo' },
    lot: { code: `LOT-NEW-${n}`, product: 'Resin R1' },
    pu: { number: `PU-NEW-${n}`, supplier: 'PolyChem' },
    invoice: { number: `INV-NEW-${n}`, customer: 'Sol SA' },
    price_list: { name: `New price list ${n}` },
  };
  return { factory_id: factory, ...(base[type] ?? {}) };
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let token = '';
export function setApiToken(t: string): void {
  token = t;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) throw new ApiError(res.status, json.error ?? res.statusText);
  return json as T;
}

export const api = {
  list: (type: string, factory: string, page: number) =>
    call<Page>('GET', `/api/${type}?factory=${encodeURIComponent(factory)}&page=${page}`),
  doc: (type: string, id: string) => call<Doc>('GET', `/api/${type}/${id}`),
  update: (type: string, id: string, set: Record<string, unknown>) => call<Doc>('PATCH', `/api/${type}/${id}`, set),
  approve: (type: string, id: string) => call<Doc>('POST', `/api/${type}/${id}/approve`),
  reject: (type: string, id: string) => call<Doc>('POST', `/api/${type}/${id}/reject`),
  remove: (type: string, id: string) => call<{ deleted: number }>('DELETE', `/api/${type}/${id}`),
  create: (type: string, factory: string) => call<Doc>('POST', `/api/${type}`, newDocBody(type, factory)),
  bulk: (type: string, action: string, ids: number[]) => call<{ affected: number }>('POST', `/api/${type}/_bulk`, { action, ids }),
};

// Demo sign-in: the API's dev endpoint mints a token for a chosen factory set (a real app gets it from its
// identity provider). The same token authenticates API calls and the realtime socket.
export async function mintToken(factories: string[]): Promise<string> {
  const res = await fetch('/api/_token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ factories, sub: `demo-${factories.join('-')}`, ttlSeconds: 86400 }),
  });
  if (!res.ok) throw new ApiError(res.status, `token: ${res.status}`);
  return (await res.json()).token as string;
}
