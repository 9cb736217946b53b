// The list and detail views. Each view watches exactly the channels it shows (useRealtimeList /
// useRealtimeDoc) and reads through TanStack Query keyed by the SDK's keys, so rtcache events patch or
// refetch precisely what is on screen.
import { useState } from 'react';
import { type QueryClient, useQuery, useQueryClient } from '@tanstack/react-query';
import { keys } from '@rtcache/sdk';
import { useRealtimeDoc, useRealtimeList } from '@rtcache/sdk/react';
import { api, ApiError, DOC_TYPES, type Doc } from './api';
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

// One page of a list. Every observer of a page uses these options, so whichever one TanStack keeps, a refetch
// also refreshes the doc cache: the list page seeds each row's doc query, never older than what it holds.
function listQuery(qc: QueryClient, type: string, factory: string, page: number) {
  return {
    queryKey: keys.list(type, factory, page),
    queryFn: async () => {
      const p = await api.list(type, factory, page);
      for (const d of p.items) {
        const k = keys.doc(type, String(d.id));
        const cur = qc.getQueryData<Doc>(k);
        if (!cur || cur.version <= d.version) qc.setQueryData(k, d);
      }
      return p;
    },
  };
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

function ListPage({ type, factory, page }: { type: string; factory: string; page: number }) {
  const q = useQuery(listQuery(useQueryClient(), type, factory, page));
  if (q.error) {
    return (
      <tbody>
        <tr>
          <td colSpan={7}>
            <ErrorNote error={q.error} />
          </td>
        </tr>
      </tbody>
    );
  }
  if (!q.data) {
    return (
      <tbody>
        <tr>
          <td colSpan={7}>Loading page {page}…</td>
        </tr>
      </tbody>
    );
  }
  return (
    <tbody data-testid={`page-${page}`} data-total={q.data.total}>
      {q.data.items.map((d) => (
        <Row key={d.id} type={type} factory={factory} row={d} />
      ))}
    </tbody>
  );
}

// Column names, from the first page's first row (the same columns Row shows).
function ListHead({ type, factory }: { type: string; factory: string }) {
  const q = useQuery({ ...listQuery(useQueryClient(), type, factory, 1), enabled: false });
  const first = q.data?.items[0];
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
function BulkApprove({ type, factory }: { type: string; factory: string }) {
  const q = useQuery({ ...listQuery(useQueryClient(), type, factory, 1), enabled: false });
  const ids = (q.data?.items ?? []).slice(0, 5).map((d) => d.id);
  return (
    <button data-testid="bulk-approve" disabled={ids.length === 0} onClick={() => void api.bulk(type, 'approve', ids)}>
      Approve first {ids.length}
    </button>
  );
}

export function ListView({ type, factory }: { type: string; factory: string }) {
  useRealtimeList(type);
  const [pages, setPages] = useState(1); // the view is keyed by factory and type: a new list starts at page 1
  const [busy, setBusy] = useState(false);
  const label = DOC_TYPES.find((t) => t.type === type)?.label ?? type;
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
        <BulkApprove type={type} factory={factory} />
      </header>
      <table className="docs">
        <ListHead type={type} factory={factory} />
        {Array.from({ length: pages }, (_, i) => (
          <ListPage key={i + 1} type={type} factory={factory} page={i + 1} />
        ))}
      </table>
      <button data-testid="load-more" onClick={() => setPages((p) => p + 1)}>
        Load more
      </button>
    </section>
  );
}

export function DetailView({ type, factory, id }: { type: string; factory: string; id: string }) {
  useRealtimeDoc(type, id);
  const q = useQuery({ queryKey: keys.doc(type, id), queryFn: () => api.doc(type, id) });
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
