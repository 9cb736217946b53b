#!/usr/bin/env bash
# Idle connections across two cluster nodes (issue 13): more connections than one process may open (20,000
# open files here), held by two `rtcache serve` processes that share one NATS JetStream stream. Starts
# scripts/cluster.sh with two nodes and a config without [postgres] (nats-server and the two nodes, no
# PostgreSQL), then one rtcache_load idle generator per node (a generator is capped at 20,000 open files too),
# each from its own four 127.0.0.x source addresses, all holding their connections at the same time and
# heartbeating every 25 s as supabase-js does. Figures, one `name value unit` line each, preceded by the
# machine's load:
#   cluster_idle.nodeN.connections     what node N's /metrics says it holds (rtcache_connections), all generators
#                                      ready; cluster_idle.total_connections their sum
#   cluster_idle.nodeN.rss_before, .rss_held   node N's RSS before the clients and while they are held
#   cluster_idle.nodeN.bytes_per_connection   (rss_held - rss_before) / connections
#   cluster_idle.nodeN.open_files, .fd_limit
#   idle_nodeN.*                       the generator's own figures (clients joined, failed, alive after the hold,
#                                      heartbeats sent and answered)
#
#   bench/cluster/idle.sh [--quick]
#
# RTCACHE_BIN          the rtcache binary (default build/release/src/main/rtcache; not built here)
# RTCACHE_LOAD_BIN     the generator (default build/release/bench/load/rtcache_load)
# IDLE_PER_NODE        connections per node (default 19,600: under the node's 20,000 open files with what a
#                      cluster node holds besides, so that /metrics can still be scraped); --quick: 200
# IDLE_HOLD_S          how long the connections are held (default 70 s; --quick: 3)
# Exit status: non-zero only when the harness fails, never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # free_port, cluster_bench_args

cluster_bench_args idle.sh "$@"  # quick, RTCACHE_BIN, load_bin
per_node=${IDLE_PER_NODE:-19600}
hold=${IDLE_HOLD_S:-70}
((quick)) && per_node=200 hold=3

work=$(mktemp -d /tmp/rtcache-cluster-idle.XXXXXX)
export CLUSTER_DIR="$work/cluster" CLUSTER_CONFIG="$work/rtcache.toml"
CLUSTER_PORTS="$(free_port) $(free_port)"
export CLUSTER_PORTS
read -r -a ports <<<"$CLUSTER_PORTS"
# The playbook's doc types, no [postgres]: the nodes serve what the stream holds (nothing here).
echo 'doc_types = ["wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"]' >"$CLUSTER_CONFIG"
# As bench/load/run.sh's idle mode: every generator connects from 127.0.0.x, so the per-address bound is off;
# the connection bound is above the open-files limit, which is what is measured.
export RTCACHE_MAX_CONNECTIONS=30000 RTCACHE_MAX_CONNECTIONS_PER_IP=0 RTCACHE_LOG_LEVEL=warn
gen_pids=()
cleanup() {
  local p
  for p in "${gen_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/cluster.sh destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/cluster.sh start >"$work/start.out" 2>&1 || { cat "$work/start.out" >&2; echo "idle.sh: scripts/cluster.sh start failed" >&2; exit 1; }
secret=$(cat "$CLUSTER_DIR/jwt_secret")
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { curl -fsS --max-time 10 "http://127.0.0.1:${ports[$(($1 - 1))]}/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
fig() { printf '%s %s %s\n' "$1" "$2" "$3"; }

declare -A pid=() rss0=()
for n in 1 2; do
  pid[$n]=$(scripts/cluster.sh pid "$n")
  rss0[$n]=$(rss_kib "${pid[$n]}")
done
t0=$SECONDS
for n in 1 2; do
  # Sources 127.0.0.2-5 for node 1, 127.0.0.6-9 for node 2.
  "$load_bin" idle --label "idle_node$n" --port "${ports[$((n - 1))]}" --secret "$secret" --clients "$per_node" \
    --factories 4 --docs 100000 --no-list --first-source $((2 + 4 * (n - 1))) --sources 4 --hold "$hold" \
    --connect-timeout 60 >"$work/gen$n.out" 2>"$work/gen$n.err" &
  gen_pids+=($!)
done
for n in 1 2; do
  until grep -q '^ready' "$work/gen$n.out" 2>/dev/null; do
    kill -0 "${gen_pids[$((n - 1))]}" 2>/dev/null || break
    sleep 0.2
  done
done
connect_s=$((SECONDS - t0))
sleep 1
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
fig cluster_idle.connect_seconds "$connect_s" s
total=0
for n in 1 2; do
  fds=$(find "/proc/${pid[$n]}/fd" -mindepth 1 -maxdepth 1 | wc -l)
  held=$(metric "$n" rtcache_connections || true)
  [ -n "$held" ] || held=0
  total=$((total + held))
  rss1=$(rss_kib "${pid[$n]}")
  fig "cluster_idle.node$n.connections" "$held" connections
  fig "cluster_idle.node$n.rss_before" $((rss0[$n] / 1024)) MiB
  fig "cluster_idle.node$n.rss_held" $((rss1 / 1024)) MiB
  fig "cluster_idle.node$n.bytes_per_connection" \
    "$(awk -v a="${rss0[$n]}" -v b="$rss1" -v n="$held" 'BEGIN { printf("%.0f", (n > 0) ? (b - a) * 1024 / n : 0) }')" bytes
  fig "cluster_idle.node$n.open_files" "$fds" files
  fig "cluster_idle.node$n.fd_limit" "$(awk '/Max open files/ {print $4}' "/proc/${pid[$n]}/limits")" files
done
fig cluster_idle.total_connections "$total" connections
for p in "${gen_pids[@]}"; do wait "$p" || true; done
gen_pids=()
for n in 1 2; do
  grep -v '^ready' "$work/gen$n.out" || true
  sed 's/^/# /' "$work/gen$n.err"
  fig "cluster_idle.node$n.idle_closes" "$(metric "$n" rtcache_idle_closes_total)" connections
  fig "cluster_idle.node$n.ready_after_hold" \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${ports[$((n - 1))]}/readyz")" http-status
done
