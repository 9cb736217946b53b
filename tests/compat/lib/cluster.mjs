// The cluster phase's side of things (scripts/compat-cluster.sh): two `rtcache serve` nodes sharing one NATS stream
// and one replication slot, their /metrics, SIGKILL of one, and a TCP load balancer in front of them for clients
// that should move from one node to the other the way an app behind a load balancer does.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { expect } from 'vitest';
import { collector, sleep, subscribe, supabaseClient, tail, until } from './clients.mjs';
import { killPid } from './server.mjs';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/compat/test/cluster through scripts/compat-cluster.sh`);
  return v;
}

const urls = required('RTCACHE_CLUSTER_URLS').split(',');
const pidFiles = required('RTCACHE_CLUSTER_PID_FILES').split(',');
const logs = (process.env.RTCACHE_CLUSTER_LOGS ?? '').split(',');

// [{ name: 'a', url: 'http://127.0.0.1:PORT', port, pidFile, log }, { name: 'b', ... }]
export const NODES = urls.map((url, i) => ({
  name: String.fromCharCode(97 + i),
  url,
  port: Number(new URL(url).port),
  pidFile: pidFiles[i],
  log: logs[i] ?? '/dev/null',
}));

export function nodePid(node) {
  return Number(readFileSync(node.pidFile, 'utf8').trim());
}

// SIGKILL: no drain, no goodbye to PostgreSQL or NATS; the kernel closes its sockets (the walsender then frees the
// slot within milliseconds, docs/cluster.md (a)).
export async function killNode(node) {
  await killPid(nodePid(node), `node ${node.name}`);
}

// The node's /metrics as { name: value } (unlabelled samples only).
export async function metrics(node) {
  const res = await fetch(`${node.url}/metrics`);
  const out = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export async function metric(node, name) {
  return (await metrics(node))[name];
}

// The node holding the replication slot (rtcache_replication_reader 1 and streaming), the other standing by.
export async function readerAndStandby(timeoutMs = 15000) {
  let seen = [];
  let found = null;
  await until(
    async () => {
      seen = await Promise.all(NODES.map((n) => metrics(n).catch(() => ({}))));
      const readers = NODES.filter((_, i) => seen[i].rtcache_replication_reader === 1 && seen[i].rtcache_replication_connected === 1);
      if (readers.length !== 1) return false;
      found = { reader: readers[0], standby: NODES.find((n) => n !== readers[0]) };
      return true;
    },
    timeoutMs,
    'exactly one node holding the slot and streaming',
  ).catch((e) => {
    throw new Error(`${e.message}: readers ${seen.map((m, i) => `${NODES[i].name}=${m.rtcache_replication_reader}`).join(' ')}`);
  });
  return found;
}

// The node's relay writer events in log order, 'started' or 'stopped' (`event=cluster.relay_writer_started` /
// `cluster.relay_writer_stopped`, docs/cluster.md "Relay ingest").
export function relayWriterEvents(node) {
  let text = '';
  try {
    text = readFileSync(node.log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => /event=cluster\.relay_writer_(started|stopped)\b/.exec(l)?.[1])
    .filter(Boolean);
}

// The node writing relay ingest into the stream when the config has no [postgres]: the lease holder, read from the
// nodes' logs (/metrics does not tell: every node of a relay-only cluster shows the rtcache_cluster_writer_*
// counters). Resolves { writer, others, starts: [relay_writer_started lines per node] } once exactly one node's last
// such line is a start.
export async function relayWriter(timeoutMs = 15000, nodes = NODES) {
  let seen = [];
  let found = null;
  await until(
    () => {
      seen = nodes.map(relayWriterEvents);
      const writers = nodes.filter((_, i) => seen[i].at(-1) === 'started');
      if (writers.length !== 1) return false;
      found = { writer: writers[0], others: nodes.filter((n) => n !== writers[0]), starts: seen.map((e) => e.filter((x) => x === 'started').length) };
      return true;
    },
    timeoutMs,
    'exactly one node writing relay ingest (its log: event=cluster.relay_writer_started)',
  ).catch((e) => {
    throw new Error(`${e.message}: ${seen.map((ev, i) => `${nodes[i].name}=[${ev.join(',')}]`).join(' ')}`);
  });
  return found;
}

// A supabase-js client on `node` joined to `topic` (channel options `config`), collecting every broadcast of `event`
// (all by default) in `got`. { node, name, c, ch, got }.
export async function joinOn(node, topic, { vsn, token, config, event = '*', name = `node ${node.name} ${topic}` }) {
  const c = supabaseClient({ vsn, token, url: node.url });
  const got = collector(name);
  const ch = c.client.channel(topic, config ? { config } : undefined).on('broadcast', { event }, (m) => got.push(m));
  const sub = await subscribe(ch);
  expect(sub.status, `${name}: ${sub.error?.message}\n${tail(c)}`).toBe('SUBSCRIBED');
  return { node, name, c, ch, got };
}

// Waits (10 s at most) for n messages on `who` (a joinOn), failing with its and the others' client logs.
export async function arrived(who, n, ...others) {
  return who.got.waitFor(n, 10000).catch((e) => {
    throw new Error(`${e.message}\n${[who, ...others].map((x) => `${x.name}:\n${tail(x.c)}`).join('\n')}`);
  });
}

export const wsUrl = (node) => node.url.replace(/^http/, 'ws');

// A TCP load balancer on a free port, as an app's clients would reach the cluster: every new connection goes to
// the first backend in `backends` that accepts it (a backend that refuses, e.g. a killed node, is skipped), and
// bytes are piped both ways until either side closes (a backend that dies closes its clients' connections).
// `hold()` makes it refuse every new connection until `release()` (a balancer
// with no backend marked healthy yet), so a test decides when a client may come back; clients retry by themselves.
export async function balancer(backends) {
  const list = [...backends];
  let held = false;
  const conns = new Set();
  const routed = []; // the backend name of each connection piped, in order
  const server = net.createServer((client) => {
    conns.add(client);
    client.on('close', () => conns.delete(client));
    client.on('error', () => {});
    if (held) {
      client.destroy();
      return;
    }
    client.pause();
    const tryBackend = (i) => {
      if (i >= list.length) {
        client.destroy();
        return;
      }
      const b = list[i];
      const upstream = net.connect(b.port, '127.0.0.1');
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        routed.push(b.name);
        conns.add(upstream);
        upstream.on('close', () => {
          conns.delete(upstream);
          client.destroy();
        });
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (!connected) tryBackend(i + 1);
        else client.destroy();
      });
    };
    tryBackend(0);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    routed,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
    },
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise((resolve) => server.close(resolve));
      await sleep(0);
    },
  };
}
