#!/usr/bin/env bash
# Relay ingest across cluster nodes (issue 13): publish-to-client latency and delivered msg/s of relay events
# POSTed to one node and received by clients of another, against a single node in the same run. The clients and
# the publisher are one rtcache_load in throughput mode, as bench/load/run.sh's latency mode (each event carries
# its POST time; every client joins its own document's channel doc:wo:dK, so every event reaches one client),
# with --publish-port: the POSTs go to node 1, the clients are on node 2. Three setups, one after the other, each
# at every rate of RELAY_RATES:
#   single     one `rtcache serve` without [cluster] (the anchor): POST and clients on the same process, no
#              stream in between.
#   relay      scripts/cluster.sh with two nodes and a config without [postgres]: node 1 stores each POST in the
#              ingest stream (<stream>_ingest), the lease holder's relay writer (cluster::relay_writer) reads it
#              and republishes it into the main stream, node 2's applier delivers it.
#   postgres   the same with [postgres] (PostgreSQL started, nothing written to it): the writer is the slot
#              holder's, whose source republishes between transactions (routed_sink::poll on its thread).
# Figures, one `name value unit` line each, named SETUP.rateR.* (rtcache_load's: latency_p50/_p90/_p99/_max,
# delivered_msgs_per_s, published_events_per_s, offset_gaps, ...), then SETUP.writer_node: the node that
# republished (its rtcache_cluster_writer_ingest_items_total grew). Preceded by the machine's load.
#
#   bench/cluster/relay.sh [--quick] [single] [relay] [postgres]      (default: all three; with --quick, single
#                                                                     and relay: PostgreSQL's start would double
#                                                                     the smoke run, name postgres to add it)
#
# RTCACHE_BIN, RTCACHE_LOAD_BIN   as in bench/cluster/idle.sh
# RELAY_RATES     events/s, space-separated (default "1000 5000"); --quick: 200
# RELAY_CLIENTS   clients (default 1,000; --quick: 50)
# RELAY_PUBLISHERS  POSTing connections (default 2): each waits for its POST's answer before the next, and a
#                 cluster node answers only once the ingest stream stored the POST, so a high rate needs more
# Each rate: 2 s warm-up, 10 s measured (--quick: 0.5 s and 1 s); events in POSTs of 10;
# before the next rate, the nodes apply all of the stream (the clients would receive its backlog).
# Exit status: non-zero only when the harness fails (a setup did not start, no client joined, nothing was
# delivered), never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # free_port, cluster_bench_args, bench_docs_config

setups=()
args=()
for a in "$@"; do
  case "$a" in
    single | relay | postgres) setups+=("$a") ;;
    *) args+=("$a") ;;
  esac
done
cluster_bench_args relay.sh "${args[@]}"  # quick, RTCACHE_BIN, load_bin
if [[ ${#setups[@]} -eq 0 ]]; then
  setups=(single relay postgres)
  ((quick)) && setups=(single relay)
fi
read -r -a rates <<<"${RELAY_RATES:-1000 5000}"
clients=${RELAY_CLIENTS:-1000} publishers=${RELAY_PUBLISHERS:-2} warmup=2 duration=10
((quick)) && rates=(200) clients=${RELAY_CLIENTS:-50} warmup=0.5 duration=1

work=$(mktemp -d /tmp/rtcache-cluster-relay.XXXXXX)
export RTCACHE_MAX_CONNECTIONS_PER_IP=0 RTCACHE_LOG_LEVEL=warn
single_pid=
cluster_dir=
cleanup() {
  if [ -n "$single_pid" ]; then kill "$single_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ -n "$cluster_dir" ]; then CLUSTER_DIR=$cluster_dir scripts/cluster.sh destroy >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$work/relay.toml" <<'TOML'
doc_types = ["wo"]
TOML
# [postgres] over a table of the benchmark's own (as bench/cluster/latency.sh); nothing is written to it: the
# slot holder's source only republishes relay ingest.
bench_docs_config "$work/postgres.toml"
cat >"$work/schema.sql" <<'SQL'
CREATE TABLE bench_docs (id text PRIMARY KEY, factory_id text NOT NULL, version bigint NOT NULL DEFAULT 0);
ALTER TABLE bench_docs REPLICA IDENTITY FULL;
CREATE PUBLICATION rtcache_bench FOR TABLE bench_docs;
SQL

fail() { echo "relay.sh: $*" >&2; exit 1; }

# measure LABEL PORT PUBLISH_PORT SERVER_PID SECRET RATE: one rtcache_load run; its figures on stdout and in
# $work/LABEL.out, its progress in $work/LABEL.err.
measure() {
  local label=$1 port=$2 publish_port=$3 pid=$4 secret=$5 rate=$6
  "$load_bin" throughput --label "$label" --port "$port" --publish-port "$publish_port" --secret "$secret" \
    --server-pid "$pid" --clients "$clients" --factories 4 --docs "$clients" --no-list --rate "$rate" --batch 10 \
    --publishers "$publishers" --duration "$duration" --warmup "$warmup" --sources 4 >"$work/$label.out" 2>"$work/$label.err" ||
    { cat "$work/$label.out" "$work/$label.err" >&2; fail "rtcache_load $label failed"; }
  cat "$work/$label.out"
  sed 's/^/# /' "$work/$label.err"
  awk -v l="$label" '$1 == l ".clients_joined" && $2 == 0 { bad = 1 } $1 == l ".delivered_msgs_per_s" && $2 == 0 { bad = 1 }
    END { exit bad }' "$work/$label.out" || fail "$label: no client joined or nothing was delivered (see above)"
}

metric() { curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

# settle PORT...: waits until every node's rtcache_cluster_last_applied_sequence is equal and unchanged for a
# second (what one rate published is applied everywhere before the next rate's clients join), at most 60 s.
settle() {
  local last="" now p deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    now=$(for p in "$@"; do metric "$p" rtcache_cluster_last_applied_sequence; done | tr '\n' ' ')
    [ "$now" = "$last" ] && [ "$(tr ' ' '\n' <<<"$now" | sed '/^$/d' | sort -u | wc -l)" -eq 1 ] && return 0
    last=$now
    sleep 1
  done
  echo "relay.sh: the nodes did not settle within 60 s (applied: $now)" >&2
}

run_single() {
  local port secret
  port=$(free_port)
  secret=$(openssl rand -hex 32)
  RTCACHE_LISTEN=127.0.0.1:$port RTCACHE_JWT_SECRET=$secret "$RTCACHE_BIN" serve -c "$work/relay.toml" \
    >"$work/single.log" 2>&1 &
  single_pid=$!
  local _
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null && break
    kill -0 "$single_pid" 2>/dev/null || { cat "$work/single.log" >&2; fail "the single node exited"; }
    sleep 0.05
  done
  local r first=1
  for r in "${rates[@]}"; do
    # A single node has no backlog to speak of: a second after a rate, what was in flight is delivered.
    ((first)) || sleep 1
    first=0
    measure "single.rate$r" "$port" "$port" "$single_pid" "$secret" "$r"
  done
  kill -TERM "$single_pid" 2>/dev/null || true
  wait "$single_pid" 2>/dev/null || true
  single_pid=
}

# run_cluster SETUP CONFIG [SQL]: two nodes; POSTs to node 1, clients on node 2.
run_cluster() {
  local setup=$1 config=$2 sql=${3:-}
  cluster_dir="$work/$setup"
  local -a ports
  ports=("$(free_port)" "$(free_port)")
  export CLUSTER_DIR=$cluster_dir CLUSTER_CONFIG=$config CLUSTER_SQL=$sql CLUSTER_PORTS="${ports[*]}"
  scripts/cluster.sh start >"$work/$setup.start" 2>&1 ||
    { cat "$work/$setup.start" >&2; fail "scripts/cluster.sh start failed ($setup)"; }
  local secret pid2 r n
  secret=$(cat "$cluster_dir/jwt_secret")
  pid2=$(scripts/cluster.sh pid 2)
  declare -A items0=()
  for n in 1 2; do items0[$n]=$(metric "${ports[$((n - 1))]}" rtcache_cluster_writer_ingest_items_total); done
  local first=1
  for r in "${rates[@]}"; do
    ((first)) || settle "${ports[@]}"
    first=0
    measure "$setup.rate$r" "${ports[1]}" "${ports[0]}" "$pid2" "$secret" "$r"
  done
  local writer=none
  for n in 1 2; do
    [ "$(metric "${ports[$((n - 1))]}" rtcache_cluster_writer_ingest_items_total)" != "${items0[$n]:-}" ] && writer=node$n
  done
  echo "$setup.writer_node $writer node (POSTs to node1, clients on node2)"
  scripts/cluster.sh destroy >/dev/null 2>&1 || true
  cluster_dir=
  unset CLUSTER_DIR CLUSTER_CONFIG CLUSTER_SQL CLUSTER_PORTS
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nats-server $(nats-server --version | sed 's/.*v//')"
for s in "${setups[@]}"; do
  case "$s" in
    single) run_single ;;
    relay) run_cluster relay "$work/relay.toml" ;;
    postgres) run_cluster postgres "$work/postgres.toml" "$work/schema.sql" ;;
  esac
done
# The anchor: each cluster setup's latency against the single node's at the same rate.
cat "$work"/*.out | awk '
  $1 ~ /\.latency_p50$/ || $1 ~ /\.latency_p99$/ {
    split($1, k, "."); v[k[1] "." k[2] "." k[3]] = $2; seen[k[2] "." k[3]] = 1
  }
  END {
    for (rq in seen) for (s in setups) {
      c = setups[s] "." rq
      if ((c in v) && (("single." rq) in v) && v["single." rq] > 0)
        printf("%s_vs_single %.1f ratio\n", c, v[c] / v["single." rq])
    }
  }
  BEGIN { setups[1] = "relay"; setups[2] = "postgres" }' | sort
echo "machine after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
