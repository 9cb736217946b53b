// The list and detail views: one realtime query each (useRealtimeInfiniteQuery for a list, useRealtimeQuery for
// a document). The query's options carry the SDK's key, the view's channels (watched while it is mounted) and
// the wait of its first fetch for their joins, so rtcache events patch or refetch precisely what is on screen.
import { useState } from 'react';
import { useQuery, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { keys } from '@rtcache/sdk';
import { useRealtimeInfiniteQuery, useRealtimeQuery } from '@rtcache/sdk/react';
import { api, ApiError, DOC_TYPES, type Doc, type Page } from './api';
import { Link, navigate } from './router';

const HIDDEN = new Set(['id', 'factory_id', 'version', 'status', 'updated_at']);

function refOf(type: string, d: Doc): string {
  const col = DOC_TYPES.find((t) => t.type === type)?.ref ?? 'number';
  return String(d[col] ?? d.id);
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

function ErrorNote({ error }: { error: unknown }) {
  const status = error instanceof ApiError ? error.status : 0;
  const text =
    status === 403 ? 'This factory is outside your scope.' : status === 404 ? 'Not found (or not in your scope).' : String(error);
  return (
    <p className="error" data-testid="view-error" data-status={status}>
      {text}
    </p>
  );
}

// A list's rows are read from the doc cache, seeded by each page it loads (never older than what it holds),
// so events on a row patch it in place, and a detail view opened from the list shows it at once.
function useListView(type: string, factory: string) {
  const qc = useQueryClient();
  return useRealtimeInfiniteQuery({
    list: [type, factory],
    queryFn: async ({ pageParam }) => {
      const p = await api.list(type, factory, pageParam as number);
      for (const d of p.items) {
        const k = keys.doc(type, String(d.id));
        const cur = qc.getQueryData<Doc>(k);
        if (!cur || cur.version <= d.version) qc.setQueryData(k, d);
      }
      return p;
    },
    initialPageParam: 1,
    getNextPageParam: (last: Page) => (last.page * last.pageSize < last.total ? last.page + 1 : undefined),
  });
}

// One row, read from the doc cache (seeded by the list page), so events patch it in place.
function Row({ type, factory, row }: { type: string; factory: string; row: Doc }) {
  const id = String(row.id);
  const q = useQuery({ queryKey: keys.doc(type, id), queryFn: () => api.doc(type, id), initialData: row });
  const d = q.data ?? row;
  const ref = DOC_TYPES.find((t) => t.type === type)?.ref ?? 'number';
  const cols = Object.keys(d).filter((k) => !HIDDEN.has(k) && k !== ref).slice(0, 4);
  return (
    <tr data-testid={`row-${id}`} data-version={d.version}>
      <td>
        <Link to={`/${factory}/${type}/${id}`} testId={`open-${id}`}>
          {refOf(type, d)}
        </Link>
      </td>
      <td>
        <span className={`status status-${d.status}`}>{d.status}</span>
      </td>
      {cols.map((c) => (
        <td key={c}>{fmt(d[c])}</td>
      ))}
      <td className="num">v{d.version}</td>
    </tr>
  );
}

// Column names, from the first page's first row (the same columns Row shows).
function ListHead({ type, first }: { type: string; first?: Doc }) {
  if (!first) return null;
  const ref = DOC_TYPES.find((t) => t.type === type)?.ref ?? 'number';
  const cols = Object.keys(first).filter((k) => !HIDDEN.has(k) && k !== ref).slice(0, 4);
  return (
    <thead>
      <tr>
        <th>{ref}</th>
        <th>status</th>
        {cols.map((c) => (
          <th key={c}>{c}</th>
        ))}
        <th className="num">version</th>
      </tr>
    </thead>
  );
}

// One transaction approving the first five documents of page 1: a bulk change reaches every watcher as events.
function BulkApprove({ type, page }: { type: string; page?: Page }) {
  const ids = (page?.items ?? []).slice(0, 5).map((d) => d.id);
  return (
    <button data-testid="bulk-approve" disabled={ids.length === 0} onClick={() => void api.bulk(type, 'approve', ids)}>
      Approve first {ids.length}
    </button>
  );
}

export function ListView({ type, factory }: { type: string; factory: string }) {
  // The view is keyed by factory and type: a new list starts at its first page. A create or delete anywhere in
  // it refetches that first page only (the SDK trims the list to it).
  const q = useListView(type, factory);
  const [busy, setBusy] = useState(false);
  const label = DOC_TYPES.find((t) => t.type === type)?.label ?? type;
  const pages = (q.data as InfiniteData<Page> | undefined)?.pages ?? [];
  return (
    <section data-testid="list-view" data-type={type} data-factory={factory}>
      <header className="view-head">
        <h2>
          {label} <small>· {factory}</small>
        </h2>
        <button
          data-testid="create"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await api.create(type, factory);
            } finally {
              setBusy(false);
            }
          }}
        >
          New
        </button>
        <BulkApprove type={type} page={pages[0]} />
      </header>
      {q.error ? (
        <ErrorNote error={q.error} />
      ) : (
        <table className="docs">
          <ListHead type={type} first={pages[0]?.items[0]} />
          {pages.length === 0 ? (
            <tbody>
              <tr>
                <td colSpan={7}>Loading page 1…</td>
              </tr>
            </tbody>
          ) : (
            pages.map((p) => (
              <tbody key={p.page} data-testid={`page-${p.page}`} data-total={p.total}>
                {p.items.map((d) => (
                  <Row key={d.id} type={type} factory={factory} row={d} />
                ))}
              </tbody>
            ))
          )}
        </table>
      )}
      <button data-testid="load-more" disabled={!q.hasNextPage || q.isFetchingNextPage} onClick={() => void q.fetchNextPage()}>
        Load more
      </button>
    </section>
  );
}

export function DetailView({ type, factory, id }: { type: string; factory: string; id: string }) {
  const q = useRealtimeQuery({ doc: [type, id], queryFn: () => api.doc(type, id) });
  const act = (fn: () => Promise<unknown>) => () => void fn().catch((e) => alert(String(e)));
  if (q.error) return <ErrorNote error={q.error} />;
  if (!q.data) return <p>Loading…</p>;
  const d = q.data;
  return (
    <section data-testid="detail-view" data-type={type} data-id={id}>
      <header className="view-head">
        <h2>
          <Link to={`/${factory}/${type}`}>{DOC_TYPES.find((t) => t.type === type)?.label ?? type}</Link> / {refOf(type, d)}
        </h2>
        <span className={`status status-${d.status}`} data-testid="doc-status">
          {d.status}
        </span>
        <span className="version" data-testid="doc-version">
          v{d.version}
        </span>
      </header>
      <dl className="fields">
        {Object.keys(d)
          .filter((k) => !HIDDEN.has(k) || k === 'updated_at')
          .map((k) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd data-testid={`field-${k}`}>{fmt(d[k])}</dd>
            </div>
          ))}
      </dl>
      <div className="actions">
        <button data-testid="approve" onClick={act(() => api.approve(type, id))}>
          Approve
        </button>
        <button data-testid="reject" onClick={act(() => api.reject(type, id))}>
          Reject
        </button>
        <button
          data-testid="delete"
          onClick={act(async () => {
            await api.remove(type, id);
            navigate(`/${factory}/${type}`);
          })}
        >
          Delete
        </button>
      </div>
    </section>
  );
}
