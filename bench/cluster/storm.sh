#!/usr/bin/env bash
# A reconnect storm on a cluster node (issue 13): every client of one node resumes on another at once, as when a
# node dies behind a load balancer, and the other node holds none of their views, so each join is exact resume by
# range fetch from the stream. Those fetches run on the node's blocking threads, not on its io threads
# (docs/cluster.md, "Calls that wait on NATS run off the io threads"); a probe client on the same node measures
# whether its deliveries stall meanwhile. Starts scripts/cluster.sh with two nodes and a config without
# [postgres] (relay ingest), then runs bench/cluster/storm.mjs: STORM_CLIENTS clients join their own document's
# channel (doc:wo:sK) on node 1 and leave with their positions; STORM_EVENTS events per document are POSTed to
# node 1; a probe on node 2 gets an event every 5 ms; then every client resumes on node 2 at once. Figures, one
# `name value unit` line each (storm.mjs lists them), preceded and followed by the machine's load.
#
#   bench/cluster/storm.sh [--quick]
#
# RTCACHE_BIN     the rtcache binary (default build/release/src/main/rtcache; not built here; scripts/lib/stack.sh
#                 cluster_bench_args also asks for rtcache_load, which the release build has)
# STORM_CLIENTS   clients (default 1,000; --quick: 50)
# STORM_EVENTS    events each client misses (default 3)
# Exit status: non-zero only when the harness fails (a node that does not start, a join or POST that fails),
# never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # free_port, cluster_bench_args

cluster_bench_args storm.sh "$@"  # quick, RTCACHE_BIN (load_bin is not used)
clients=${STORM_CLIENTS:-1000} events=${STORM_EVENTS:-3}
((quick)) && clients=${STORM_CLIENTS:-50}

work=$(mktemp -d /tmp/rtcache-cluster-storm.XXXXXX)
export RTCACHE_MAX_CONNECTIONS_PER_IP=0 RTCACHE_LOG_LEVEL=warn
cluster_dir=
cleanup() {
  if [ -n "$cluster_dir" ]; then CLUSTER_DIR=$cluster_dir scripts/cluster.sh destroy >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$work/relay.toml" <<'TOML'
doc_types = ["wo"]
TOML
cluster_dir="$work/cluster"
ports=("$(free_port)" "$(free_port)")
export CLUSTER_DIR=$cluster_dir CLUSTER_CONFIG=$work/relay.toml CLUSTER_PORTS="${ports[*]}"
scripts/cluster.sh start >"$work/start.log" 2>&1 || { cat "$work/start.log" >&2; echo "storm.sh: scripts/cluster.sh start failed" >&2; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nats-server $(nats-server --version | sed 's/.*v//')"
node --experimental-websocket --no-warnings bench/cluster/storm.mjs "http://127.0.0.1:${ports[0]}" \
  "http://127.0.0.1:${ports[1]}" "$(cat "$cluster_dir/jwt_secret")" "$clients" "$events"
echo "machine after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
