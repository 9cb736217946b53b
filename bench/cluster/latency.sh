#!/usr/bin/env bash
# Commit → client latency through the stream, and two nodes' delivery against one (issue 13). Starts
# scripts/cluster.sh with two nodes, PostgreSQL and a table of its own (bench_docs: 1,000 documents d0..d999,
# document dK in factory f(K mod 4), `version` the only patch column), and a writer inside PostgreSQL (a
# procedure: transactions of 10 UPDATEs, each setting the row's version to clock_timestamp() in ns since the
# epoch, paced to a rate). The clients are rtcache_load in --listen --wall-clock mode: they publish nothing and
# time each delivered change against the version it carries. Two phases, one cluster:
#   latency     LATENCY_RATE (default 5,000) changes/s; 1,000 clients, each on its own document's channel (doc:wo:dK), 500 on each node
#               (one generator per node): every change reaches one client. Figures latency.nodeN.latency_p50,
#               _p99, _max (ms, from the row's UPDATE inside its transaction to the client's read: it includes
#               the rest of the transaction, at most 9 more UPDATEs, and its commit), delivered_msgs_per_s,
#               offset_gaps; latency.nodeN.stored_to_applied_p50, _p99 (ms): the stream's delivery hop alone,
#               JetStream stored -> node applied, from the node's rtcache_cluster_stored_to_applied_seconds from
#               the end of the warm-up to the writer's end (every stream message; interpolated within buckets).
#   fanout      the same writer at FANOUT_RATE changes/s (default 2,000); 1,000 clients on list channels
#               (list:wo:fN, 250 per factory: every change reaches 250 clients), first all on node 1 (node 2
#               applies the stream with no client), then 500 on each node. Figures fanout.one_node.* and
#               fanout.two_nodes.nodeN.*, and fanout.two_vs_one: delivered msg/s of the second over the first.
# Each phase's writer prints writer.*: changes written and the rate it reached. Preceded by the machine's load.
# With LATENCY_SINGLE=1 a last phase is the anchor: the cluster's nodes are stopped (PostgreSQL and nats-server stay)
# and a single `rtcache serve` without [cluster] on the same PostgreSQL (a slot of its own) gets the latency phase's
# writer and 500 clients on d0..d499, the work of node 1 in the latency phase (it reads every change, delivers
# half); figures latency.single.*.
#
#   bench/cluster/latency.sh [--quick]          (--quick: 1/10 of the rates and 100 clients, 2 s windows)
#
# RTCACHE_BIN, RTCACHE_LOAD_BIN   as in bench/cluster/idle.sh
# LATENCY_RATE, FANOUT_RATE      the writer's changes/s in the two phases (defaults 5,000 and 2,000)
# LATENCY_WARMUP                 seconds the generators wait before they measure (default 3; the first pass over
#                                the 1,000 documents is 1,000 first touches of the reader's writer)
# LATENCY_FANOUT                 0: skip the fanout phases (a latency-against-rate sweep runs the script once per
#                                LATENCY_RATE; the fanout phases would add a minute each and load the next run)
# Exit status: non-zero only when the harness fails, never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # free_port, cluster_bench_args, bench_docs_config

cluster_bench_args latency.sh "$@"  # quick, RTCACHE_BIN, load_bin
rate=${LATENCY_RATE:-5000} fanout_rate=${FANOUT_RATE:-2000} clients=1000 warmup=${LATENCY_WARMUP:-3} duration=10
((quick)) && rate=500 fanout_rate=200 clients=100 warmup=1 duration=2
half=$((clients / 2))

work=$(mktemp -d /tmp/rtcache-cluster-latency.XXXXXX)
export CLUSTER_DIR="$work/cluster" CLUSTER_CONFIG="$work/rtcache.toml" CLUSTER_SQL="$work/schema.sql"
CLUSTER_PORTS="$(free_port) $(free_port)"
export CLUSTER_PORTS
read -r -a ports <<<"$CLUSTER_PORTS"
bench_docs_config "$CLUSTER_CONFIG"
cat >"$CLUSTER_SQL" <<SQL
CREATE TABLE bench_docs (id text PRIMARY KEY, factory_id text NOT NULL, version bigint NOT NULL DEFAULT 0);
ALTER TABLE bench_docs REPLICA IDENTITY FULL;
INSERT INTO bench_docs SELECT 'd' || k, 'f' || (k % 4), 0 FROM generate_series(0, $((clients - 1))) k;
CREATE PUBLICATION rtcache_bench FOR TABLE bench_docs;
-- Transactions of \`batch\` UPDATEs over d0.., each row's version its UPDATE's time (ns since the epoch), paced
-- to \`rate\` changes/s for \`seconds\`; a NOTICE says what it wrote.
CREATE PROCEDURE bench_write(rate float, batch int, seconds float) LANGUAGE plpgsql AS \$\$
DECLARE
  t0 timestamptz := clock_timestamp();
  n bigint := 0;
  ahead float;
BEGIN
  LOOP
    EXIT WHEN extract(epoch FROM clock_timestamp() - t0) > seconds;
    FOR j IN 1..batch LOOP
      UPDATE bench_docs SET version = (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint
        WHERE id = 'd' || (n % $clients);
      n := n + 1;
    END LOOP;
    COMMIT;
    ahead := n / rate - extract(epoch FROM clock_timestamp() - t0);
    IF ahead > 0 THEN PERFORM pg_sleep(ahead); END IF;
  END LOOP;
  RAISE NOTICE 'written % changes in % s', n, extract(epoch FROM clock_timestamp() - t0);
END \$\$;
SQL
export RTCACHE_MAX_CONNECTIONS_PER_IP=0 RTCACHE_LOG_LEVEL=warn
pids=()
single_pid=
cleanup() {
  local p
  for p in "${pids[@]}" $single_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/cluster.sh destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/cluster.sh start >"$work/start.out" 2>&1 || { cat "$work/start.out" >&2; echo "latency.sh: scripts/cluster.sh start failed" >&2; exit 1; }
eval "$(scripts/cluster.sh env)"
secret=$(cat "$CLUSTER_JWT_SECRET_FILE")

# writer RATE SECONDS LABEL: the writer in the background (pid appended to pids); its NOTICE in $work/LABEL.writer.
# synchronous_commit on for the writer's session (scripts/pg_cluster.sh turns it off for the whole test
# server): otherwise a commit reaches the WAL's flushed end, the only WAL a walsender sends, only at the WAL
# writer's next round (wal_writer_delay, 200 ms), and that wait would be most of what is measured.
writer() {
  PGOPTIONS="-c synchronous_commit=on" scripts/pg_cluster.sh psql "$CLUSTER_PG_DIR" -X -q -v ON_ERROR_STOP=1 -c "CALL bench_write($1, 10, $2)" \
    >"$work/$3.writer" 2>&1 &
  pids+=($!)
}
writer_figures() {
  awk -v l="$1" '/written/ { for (i = 1; i <= NF; i++) if ($i == "written") n = $(i + 1); s = $(NF - 1);
    printf("%s.writer.changes %d changes\n%s.writer.changes_per_s %.0f changes/s\n", l, n, l, n / s) }' "$work/$1.writer"
}
# gen LABEL NODE CLIENTS FIRST_CLIENT FIRST_SOURCE ARGS...: a listening generator against node NODE.
gen() {
  local label=$1 n=$2
  shift 2
  gen_at "$label" "${ports[$((n - 1))]}" "$(scripts/cluster.sh pid "$n")" "$@"
}
# gen_at LABEL PORT PID CLIENTS FIRST_CLIENT FIRST_SOURCE ARGS...: the same against the server on PORT.
gen_at() {
  local label=$1 port=$2 server_pid=$3 c=$4 first=$5 src=$6
  shift 6
  "$load_bin" throughput --listen --wall-clock --label "$label" --port "$port" --secret "$secret" \
    --server-pid "$server_pid" --clients "$c" --first-client "$first" --factories 4 \
    --docs "$clients" --first-source "$src" --sources 4 --warmup "$warmup" --duration "$duration" "$@" \
    >"$work/$label.out" 2>"$work/$label.err" &
  pids+=($!)
}
# finish: waits for every background process of the phase, then prints the generators' figures.
finish() {
  local p
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
}
# The writer outlasts the generators' connect (1,000 clients: well under a second here), warm-up and window.
window=$((warmup + duration + (quick ? 1 : 3)))
# drain: waits until the stream stopped growing and both nodes applied all of it (their
# rtcache_cluster_last_applied_sequence equal and unchanged for a second), so that a phase that fell behind
# leaves no backlog for the next phase's clients (list channels receive every change of their factory).
applied() {
  local n
  for n in 1 2; do
    curl -fsS --max-time 5 "http://127.0.0.1:${ports[$((n - 1))]}/metrics" |
      awk '$1 == "rtcache_cluster_last_applied_sequence" {print $2}'
  done | tr '\n' ' '
}
drain() {
  local last="" now deadline=$((SECONDS + 180))
  while [ $SECONDS -lt $deadline ]; do
    now=$(applied)
    read -r a b <<<"$now"
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$now" = "$last" ] && return 0
    last=$now
    sleep 1
  done
  echo "latency.sh: the nodes did not drain the stream within 180 s (applied: $now)" >&2
}

# stored_buckets N: node N's rtcache_cluster_stored_to_applied_seconds buckets, one "le count" line each.
stored_buckets() {
  curl -fsS --max-time 5 "http://127.0.0.1:${ports[$(($1 - 1))]}/metrics" |
    sed -n 's/^rtcache_cluster_stored_to_applied_seconds_bucket{le="\([^"]*\)"} \([0-9.e+]*\)$/\1 \2/p'
}
# stored_figures LABEL BEFORE AFTER: p50 and p99 of the stream's delivery hop (JetStream stored -> node applied)
# over the messages between two bucket snapshots, interpolated within a bucket as Prometheus' histogram_quantile.
stored_figures() {
  awk -v l="$1" 'NR == FNR { before[$1] = $2; next }
    { le[++n] = $1; c[n] = $2 - before[$1] }
    END {
      total = c[n]
      split("0.5 0.99", qs, " ")
      for (k = 1; k <= 2; k++) {
        want = qs[k] * total; v = "n/a"
        for (i = 1; i <= n && total > 0; i++) if (c[i] >= want) {
          lo = i > 1 ? le[i - 1] : 0; below = i > 1 ? c[i - 1] : 0
          v = le[i] == "+Inf" ? "> " lo * 1000 : sprintf("%.2f", (lo + (le[i] - lo) * (want - below) / (c[i] - below)) * 1000)
          break
        }
        printf("%s.stored_to_applied_p%s %s ms\n", l, qs[k] * 100, v)
      }
      printf("%s.stored_to_applied_messages %d msgs\n", l, total)
    }' "$2" "$3"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
writer "$rate" "$window" latency
gen latency.node1 1 "$half" 0 2 --no-list
gen latency.node2 2 "$half" "$half" 6 --no-list
sleep "$warmup"  # the generators' warm-up: the histogram's window starts about where theirs does
for n in 1 2; do stored_buckets "$n" >"$work/stored.before.$n"; done
finish
for n in 1 2; do stored_buckets "$n" >"$work/stored.after.$n"; done
cat "$work/latency.node1.out" "$work/latency.node2.out"
writer_figures latency
for n in 1 2; do stored_figures "latency.node$n" "$work/stored.before.$n" "$work/stored.after.$n"; done
drain

if [ "${LATENCY_FANOUT:-1}" != 0 ]; then
  writer "$fanout_rate" "$window" fanout_one
  gen fanout.one_node 1 "$clients" 0 2 --no-doc
  finish
  cat "$work/fanout.one_node.out"
  writer_figures fanout_one
  drain

  writer "$fanout_rate" "$window" fanout_two
  gen fanout.two_nodes.node1 1 "$half" 0 2 --no-doc
  gen fanout.two_nodes.node2 2 "$half" "$half" 6 --no-doc
  finish
  cat "$work/fanout.two_nodes.node1.out" "$work/fanout.two_nodes.node2.out"
  writer_figures fanout_two
  awk '$1 == "fanout.one_node.delivered_msgs_per_s" { one = $2 }
    $1 ~ /^fanout\.two_nodes\.node[12]\.delivered_msgs_per_s$/ { two += $2 }
    END { printf("fanout.two_nodes.delivered_msgs_per_s %.0f msg/s\nfanout.two_vs_one %.2f ratio\n", two, one > 0 ? two / one : 0) }' \
    "$work/fanout.one_node.out" "$work/fanout.two_nodes.node1.out" "$work/fanout.two_nodes.node2.out"
fi

# The anchor (LATENCY_SINGLE=1): the cluster's nodes stopped, one node without [cluster], its own slot on the same
# publication (created now: it starts at the current WAL position), the latency phase's writer and node 1's clients.
if [ "${LATENCY_SINGLE:-0}" = 1 ]; then
  drain
  for n in 1 2; do kill -TERM "$(scripts/cluster.sh pid "$n")" 2>/dev/null || true; done
  sed 's/^slot = "rtcache_bench"$/slot = "rtcache_bench_single"/' "$CLUSTER_CONFIG" >"$work/single.toml"
  single_port=$(free_port)
  RTCACHE_PG_CONNINFO=$CLUSTER_PG_CONNINFO RTCACHE_JWT_SECRET=$secret RTCACHE_LISTEN=127.0.0.1:$single_port \
    "$RTCACHE_BIN" serve -c "$work/single.toml" >"$work/single.log" 2>&1 &
  single_pid=$!  # not in pids: finish waits for those
  # streaming: its /metrics says the source streams (the log is at warn: no replication_started line)
  streaming() { curl -fsS --max-time 5 "http://127.0.0.1:$single_port/metrics" 2>/dev/null | grep -qx 'rtcache_replication_connected 1'; }
  for _ in $(seq 1 300); do
    streaming && break
    sleep 0.1
  done
  streaming || { cat "$work/single.log" >&2; echo "latency.sh: the single node did not start streaming" >&2; exit 1; }
  echo "single: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  writer "$rate" "$window" single
  gen_at latency.single "$single_port" "$single_pid" "$half" 0 2 --no-list
  finish
  cat "$work/latency.single.out"
  writer_figures single
fi
for f in "$work"/*.err; do sed "s/^/# /" "$f"; done
echo "machine after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
