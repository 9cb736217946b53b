// The live-update indicator (socket state, channels, last event, the SDK's counters) and the dashboard panel
// with rtcache's own figures from /metrics.
import { useEffect, useRef, useState } from 'react';
import { useRealtimeCache, useRealtimeStatus } from '@rtcache/sdk/react';
import { figures, parsePrometheus, type Figures, type Samples } from './metrics';

function ago(ms?: number): string {
  if (!ms) return 'no events yet';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 1 ? 'just now' : `${s}s ago`;
}

function useTick(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return n;
}

export function LiveIndicator() {
  const status = useRealtimeStatus();
  const rt = useRealtimeCache();
  useTick(500);
  const stats = rt.stats();
  return (
    <div
      className={`live ${status.connected ? 'on' : 'off'}`}
      data-testid="live-indicator"
      data-connected={String(status.connected)}
      data-channels={status.channels}
      data-last-event={status.lastEventAt ?? 0}
    >
      <span className="dot" />
      <strong>{status.connected ? 'Live' : 'Reconnecting…'}</strong>
      <span>{status.channels} channel{status.channels === 1 ? '' : 's'}</span>
      <span>last event: {ago(status.lastEventAt)}</span>
      <span title="events received / patched in place / invalidated / list refetches">
        rx {stats.received} · patched {stats.patched} · invalidated {stats.invalidated} · list refetches {stats.listRefetches}
      </span>
    </div>
  );
}

function num(v: number | undefined, digits = 0): string {
  return v === undefined ? 'n/a' : v.toFixed(digits);
}

export function Dashboard() {
  const [f, setF] = useState<Figures>({});
  const [error, setError] = useState<string>();
  const prev = useRef<{ at: number; s: Samples } | undefined>(undefined);
  useEffect(() => {
    let stop = false;
    const scrape = async () => {
      try {
        const res = await fetch('/rt/metrics');
        if (!res.ok) throw new Error(`metrics: ${res.status}`);
        const s = parsePrometheus(await res.text());
        const at = Date.now();
        if (!stop) {
          setF(figures(prev.current, at, s));
          setError(undefined);
        }
        prev.current = { at, s };
      } catch (e) {
        if (!stop) setError(String(e));
      }
    };
    void scrape();
    const t = setInterval(scrape, 2000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);
  return (
    <aside className="dashboard" data-testid="dashboard">
      <h3>rtcache server</h3>
      {error ? <p className="error">{error}</p> : null}
      <dl>
        <dt>connections</dt>
        <dd data-testid="metric-connections">{num(f.connections)}</dd>
        <dt>channels</dt>
        <dd>{num(f.channels)}</dd>
        <dt>subscriptions</dt>
        <dd>{num(f.subscriptions)}</dd>
        <dt>events/s</dt>
        <dd data-testid="metric-events">{num(f.eventsPerSecond, 1)}</dd>
        <dt>deliveries/s</dt>
        <dd>{num(f.deliveriesPerSecond, 1)}</dd>
        <dt>replication</dt>
        <dd data-testid="metric-replication">
          {f.replicationConnected === undefined ? 'relay mode' : f.replicationConnected ? 'streaming' : 'reconnecting'}
        </dd>
        <dt>lag (s)</dt>
        <dd data-testid="metric-lag">{num(f.lagSeconds, 3)}</dd>
        <dt>lag (bytes)</dt>
        <dd>{num(f.lagBytes)}</dd>
      </dl>
    </aside>
  );
}
