// rtcache's /metrics (Prometheus text, proxied at /rt/metrics) reduced to the dashboard's figures:
// gauges as they are, counters as rates between two scrapes.
export type Samples = Map<string, number>;

// Sums every series of a metric name (labels dropped). Comments and malformed lines are skipped.
export function parsePrometheus(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + v);
  }
  return out;
}

export type Figures = {
  connections?: number;
  channels?: number;
  subscriptions?: number;
  eventsPerSecond?: number;
  deliveriesPerSecond?: number;
  replicationConnected?: number; // 1 while the PostgreSQL source streams; absent in relay mode
  lagSeconds?: number;
  lagBytes?: number;
};

export function figures(prev: { at: number; s: Samples } | undefined, at: number, s: Samples): Figures {
  const rate = (name: string) => {
    if (!prev || at <= prev.at || !s.has(name) || !prev.s.has(name)) return undefined;
    return Math.max(0, (s.get(name)! - prev.s.get(name)!) / ((at - prev.at) / 1000));
  };
  return {
    connections: s.get('rtcache_connections'),
    channels: s.get('rtcache_channels'),
    subscriptions: s.get('rtcache_subscriptions'),
    eventsPerSecond: rate('rtcache_hub_messages_published_total'),
    deliveriesPerSecond: rate('rtcache_hub_deliveries_total'),
    replicationConnected: s.get('rtcache_replication_connected'),
    lagSeconds: s.get('rtcache_replication_lag_seconds'),
    lagBytes: s.get('rtcache_replication_lag_bytes'),
  };
}
