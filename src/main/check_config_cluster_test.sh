#!/usr/bin/env bash
# `rtcache check-config` and `rtcache serve` with a [cluster] section, against the nats-server of the ctest
# fixture nats_test_server (scripts/nats_server.sh): the exit status and the line of each outcome.
#   check_config_cluster_test.sh RTCACHE_BIN NATS_SERVER_SCRIPT NATS_DIR
set -euo pipefail
bin=$1
nats=$2
nats_dir=$3
work=$(mktemp -d /tmp/rtcache-check-config-cluster.XXXXXX)
private="$nats_dir-private-check-config-$$"
trap '"$nats" destroy "$private" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

url=$(cat "$nats_dir/url")
printf 'cluster-secret-for-the-check-config-test-0123456789\n' >"$work/cluster.secret"
export RTCACHE_JWT_SECRET=0123456789abcdef0123456789abcdef

config() {  # config NAME URL [extra lines...]
  local name=$1 u=$2
  shift 2
  {
    printf '[server]\nlisten = "127.0.0.1:4999"\n[cluster]\nnats_urls = ["%s"]\nsecret_file = "cluster.secret"\n' "$u"
    printf 'stream = "check_config_%s_%s"\n' "$name" "$$"
    for line in "$@"; do printf '%s\n' "$line"; done
  } >"$work/$name.toml"
  echo "$work/$name.toml"
}

# run NAME CONFIG: sets rc, out (stdout) and err (stderr)
run() {
  rc=0
  "$bin" check-config "$2" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
  out=$(cat "$work/$1.out")
  err=$(cat "$work/$1.err")
}

# Reachable, no such stream: valid (a node creates it), exit 0.
# The streams serve creates below reserve 16 MiB each of the fixture server's storage, which every cluster test
# shares (the default, 1 GiB, made the fixture's 2 GB run out for the tests after this one).
run reachable "$(config reachable "$url" 'max_bytes = 16777216')"
[ "$rc" -eq 0 ] || fail "reachable: exit $rc, expected 0 ($err)"
grep -qE "^ok: .*reachable\.toml \(listen 127\.0\.0\.1:4999, tls off, threads auto, tables 0, postgres off, cluster on\)$" <<<"$out" ||
  fail "reachable: no ok line: $out"
grep -qE "^cluster: node [^ ]+:4999, reachable \($url\), stream check_config_reachable_$$ does not exist: a node creates it when it starts$" <<<"$out" ||
  fail "reachable: no cluster line: $out"

# Nothing listening: exit 3, "unreachable".
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run unreachable "$(config unreachable "nats://127.0.0.1:$port")"
[ "$rc" -eq 3 ] || fail "unreachable: exit $rc, expected 3"
grep -q "^error: cluster.nats_urls: unreachable: " <<<"$err" || fail "unreachable: $err"
[ -z "$out" ] || fail "unreachable: printed ok: $out"

# A server that wants a password, given a wrong one: exit 3, "authentication refused", the password not shown.
NATS_SERVER_USER=rt NATS_SERVER_PASS=s3cret "$nats" start "$private" >/dev/null
private_url=$(cat "$private/url")
RTCACHE_CLUSTER_USER=rt RTCACHE_CLUSTER_PASSWORD=wr0ng-pw run wrong_password "$(config wrong_password "$private_url")"
[ "$rc" -eq 3 ] || fail "wrong password: exit $rc, expected 3"
grep -q "^error: cluster.nats_urls: authentication refused: " <<<"$err" || fail "wrong password: $err"
grep -q "wr0ng-pw" "$work/wrong_password.err" "$work/wrong_password.out" && fail "wrong password: the password was printed"
RTCACHE_CLUSTER_USER=rt RTCACHE_CLUSTER_PASSWORD=s3cret run right_password "$(config right_password "$private_url")"
[ "$rc" -eq 0 ] || fail "right password: exit $rc, expected 0 ($err)"

# An invalid [cluster] is a config error: exit 2, nothing dialled.
run invalid "$(config invalid "http://127.0.0.1:1" "max_bytes = 0")"
[ "$rc" -eq 2 ] || fail "invalid: exit $rc, expected 2"
grep -q "^error: cluster.nats_urls\[0\]: must start with nats:// or tls://$" <<<"$err" || fail "invalid: $err"
grep -q "^error: cluster.max_bytes: must be > 0, or -1 for no limit$" <<<"$err" || fail "invalid: $err"

# Without [cluster] nothing changes: the ok line as before, no cluster line.
printf '[server]\nlisten = "127.0.0.1:4999"\n' >"$work/plain.toml"
run plain "$work/plain.toml"
[ "$rc" -eq 0 ] || fail "plain: exit $rc ($err)"
[ "$out" = "ok: $work/plain.toml (listen 127.0.0.1:4999, tls off, threads auto, tables 0, postgres off)" ] ||
  fail "plain: $out"

# serve runs [postgres] with [cluster]: the node's PostgreSQL source writes the stream while it holds the slot
# (here PostgreSQL is unreachable: the source backs off, its lines name the node), and SIGTERM stops it with exit 0.
with_pg=$(config with_pg "$url" 'max_bytes = 16777216' 'node_id = "pg-node"' '[tables."public.work_orders"]' 'doc_type = "wo"' \
  'id_column = "id"' 'factory_column = "factory_id"')
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RTCACHE_PG_CONNINFO="host=/nonexistent dbname=x" "$bin" serve -c "$with_pg" -l "127.0.0.1:$pg_port" \
  >"$work/serve_pg.out" 2>"$work/serve_pg.err" &
pg_pid=$!
for _ in $(seq 1 200); do
  grep -q "event=pg_problem .*node=pg-node" "$work/serve_pg.err" && break
  kill -0 "$pg_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "event=cluster.reader_candidate node=pg-node" "$work/serve_pg.err" ||
  fail "serve with postgres: no cluster.reader_candidate line: $(cat "$work/serve_pg.err")"
grep -q "event=pg_problem .*node=pg-node" "$work/serve_pg.err" ||
  fail "serve with postgres: the source's lines do not name the node: $(cat "$work/serve_pg.err")"
# issue 13, "Metrics": the node's /metrics has the cluster's metrics and, with [postgres], its writer's.
pg_metrics=$(curl -s "http://127.0.0.1:$pg_port/metrics" || true)
grep -q "^rtcache_cluster_connected 1$" <<<"$pg_metrics" ||
  fail "serve with postgres: no rtcache_cluster_connected 1 in /metrics: $pg_metrics"
grep -q "^rtcache_cluster_writer_messages_total 0$" <<<"$pg_metrics" ||
  fail "serve with postgres: no writer counters in /metrics: $pg_metrics"
kill -TERM "$pg_pid" 2>/dev/null || true
rc=0
wait "$pg_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "serve with postgres: exit $rc after SIGTERM, expected 0: $(cat "$work/serve_pg.err")"

# serve runs a cluster node: it creates the stream, says ready once caught up, and stops on SIGTERM with exit 0.
serve_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve -c "$work/reachable.toml" -l "127.0.0.1:$serve_port" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
ready=""
for _ in $(seq 1 200); do
  ready=$(curl -s "http://127.0.0.1:$serve_port/readyz" || true)
  [ "$ready" = '{"status":"ready"}' ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$ready" = '{"status":"ready"}' ] || fail "serve with [cluster]: never ready ($ready): $(cat "$work/serve.err")"
grep -q "event=cluster.started .*stream=check_config_reachable_$$" "$work/serve.err" ||
  fail "serve with [cluster]: no cluster.started line: $(cat "$work/serve.err")"
metrics=$(curl -s "http://127.0.0.1:$serve_port/metrics" || true)
grep -q "^rtcache_cluster_ready 1$" <<<"$metrics" || fail "serve with [cluster]: no rtcache_cluster_ready 1: $metrics"
grep -q "^rtcache_cluster_lag_messages 0$" <<<"$metrics" || fail "serve with [cluster]: lag in /metrics: $metrics"
# Without [postgres] the nodes elect the stream's writer with a lease (relay ingest): the only node takes it.
grep -q "^rtcache_cluster_writer_messages_total 0$" <<<"$metrics" ||
  fail "serve with [cluster] alone: no relay writer counters: $metrics"
for _ in $(seq 1 50); do
  grep -q "event=cluster.relay_writer_started" "$work/serve.err" && break
  sleep 0.1
done
grep -q "event=cluster.relay_writer_started" "$work/serve.err" ||
  fail "serve with [cluster] alone: never became the relay writer: $(cat "$work/serve.err")"
grep -q "^rtcache_cluster_writer_active 1$" <<<"$(curl -s "http://127.0.0.1:$serve_port/metrics" || true)" ||
  fail "serve with [cluster] alone: the lease holder's /metrics has no rtcache_cluster_writer_active 1"
run reachable_after "$work/reachable.toml"
grep -qE "stream check_config_reachable_$$ exists with 0 messages" <<<"$out" || fail "serve did not create the stream: $out"
kill -TERM "$serve_pid"
rc=0
wait "$serve_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "serve with [cluster]: exit $rc after SIGTERM: $(cat "$work/serve.err")"

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "check-config with [cluster]: every case passed"
