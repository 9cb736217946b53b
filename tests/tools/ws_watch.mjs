// A minimal realtime client for shell tests (tests/tools/cluster_script_test.sh): joins one channel over the
// Supabase Realtime protocol (vsn 1.0.0, JSON envelopes) and prints one line per thing that happens, so a shell
// can wait on the output file:
//   joined <join reply payload as JSON>
//   broadcast <the broadcast's payload as JSON>
//   error <reason>            (join refused, channel errored, socket error)
//   closed <code>
// With --time, every line starts with the wall-clock time it was seen, in ms since the epoch (µs precision),
// for benchmarks that compare it with times taken in other processes (bench/cluster/failover.sh):
//   <ms> broadcast <payload>
// Needs Node's WebSocket (`node --experimental-websocket` on Node 20, built in from Node 22): no npm package.
//   node --experimental-websocket ws_watch.mjs WS_URL CHANNEL TOKEN [--time]
const [url, channel, token, flag] = process.argv.slice(2);
if (!url || !channel || !token || (flag !== undefined && flag !== '--time')) {
  console.error('usage: ws_watch.mjs WS_URL CHANNEL TOKEN [--time]');
  process.exit(2);
}
const topic = `realtime:${channel}`;
const stamp = flag === '--time' ? () => `${(performance.timeOrigin + performance.now()).toFixed(3)} ` : () => '';
const out = (line) => process.stdout.write(`${stamp()}${line}\n`);
// The token is also the apikey, as realtime-js sends a user's JWT when the app gives it as the key.
const ws = new WebSocket(`${url}?apikey=${encodeURIComponent(token)}&vsn=1.0.0`);
let ref = 0;
const send = (t, event, payload) => ws.send(JSON.stringify({ topic: t, event, payload, ref: String(++ref) }));
let joinRef;
ws.addEventListener('open', () => {
  joinRef = String(ref + 1);
  send(topic, 'phx_join', {
    config: { broadcast: { self: false }, presence: { key: '' }, postgres_changes: [], private: false },
    access_token: token,
  });
  setInterval(() => send('phoenix', 'heartbeat', {}), 20000).unref();
});
ws.addEventListener('message', (m) => {
  const f = JSON.parse(m.data);
  if (f.topic !== topic) return;
  if (f.event === 'phx_reply' && f.ref === joinRef) {
    if (f.payload.status === 'ok') out(`joined ${JSON.stringify(f.payload.response ?? {})}`);
    else out(`error join refused: ${JSON.stringify(f.payload.response ?? {})}`);
  } else if (f.event === 'broadcast') {
    out(`broadcast ${JSON.stringify(f.payload)}`);
  } else if (f.event === 'phx_error' || f.event === 'phx_close') {
    out(`error ${f.event}`);
  }
});
ws.addEventListener('error', (e) => out(`error socket: ${e.message ?? e.type}`));
ws.addEventListener('close', (e) => {
  out(`closed ${e.code}`);
  process.exit(0);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
