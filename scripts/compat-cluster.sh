#!/usr/bin/env bash
# Compatibility suite, cluster phase (issue 13): the real @supabase/supabase-js against two `rtcache serve -c FILE`
# nodes that share one NATS JetStream stream ([cluster]) and one PostgreSQL replication slot ([postgres]). Starts a
# disposable PostgreSQL (scripts/pg_cluster.sh) and a disposable nats-server (scripts/nats_server.sh), each on a
# free port in a temp dir (stopped and destroyed on exit, also on failure), creates the table, writes one config
# file both nodes read, starts node a and node b (per node: RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID), waits
# for both /readyz and for one of them to hold the slot (`rtcache_replication_reader 1`, streaming), then runs
# tests/compat/test/cluster/*.test.mjs (vitest.cluster.config.mjs).
#   RTCACHE_BIN            the server binary (default build/release/src/main/rtcache)
#   READY_SECONDS          how long to wait for the nodes and the replication stream (default 30)
#   COMPAT_CLUSTER_COUNTS  if set, "passed failed skipped" is also written to this file (scripts/compat.sh sums)
#   COMPAT_NO_NPM_CI=1     skip `npm ci` (scripts/compat.sh already ran it)
# The tests read RTCACHE_CLUSTER_URLS (the nodes' base URLs, comma-separated, node a first) and
# RTCACHE_CLUSTER_PID_FILES (their pid files, same order; the fail-over test kills one with SIGKILL).
# Extra arguments go to vitest. Ends with "compat-cluster: N passed, M failed, K skipped". PostgreSQL or
# nats-server that cannot start is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source-path=SCRIPTDIR source=lib/compat.sh
. scripts/lib/compat.sh compat-cluster "${COMPAT_CLUSTER_COUNTS:-}"

nodes=(a b)
compat_stop_servers() {  # RC
  for n in "${nodes[@]}"; do
    pid_file=$work/node-$n.pid
    server_stop
  done
  if [ "$1" -ne 0 ]; then cp "$nats_dir/server.log" "$work/nats-server.log" 2>/dev/null || true; fi
  scripts/nats_server.sh destroy "$nats_dir" >/dev/null 2>&1 || rm -rf "$nats_dir"
}
compat_tools
command -v "${NATS_SERVER_BIN:-nats-server}" >/dev/null || fail_setup "nats-server not found (apt-get install nats-server)"
# nats-server gets its own directory too (scripts/nats_server.sh destroy removes it whole).
nats_dir=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-compat-cluster-nats.XXXXXX")
compat_begin
compat_npm_ci

# PostgreSQL: a fresh cluster on a free port, with the mapped table of the PostgreSQL phase (scripts/lib/compat.sh).
compat_postgres ""  # the mapped table alone

# nats-server with JetStream: a fresh store on a free port.
scripts/nats_server.sh start "$nats_dir" >"$work/nats_server.log" 2>&1 || {
  cat "$work/nats_server.log" >&2
  fail_setup "nats-server did not start (scripts/nats_server.sh start $nats_dir)"
}
nats_url=$(scripts/nats_server.sh url "$nats_dir")

# One file for both nodes, as docs/operations.md has it: what differs per node comes from the environment.
node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))' >"$work/cluster.secret"
config=$work/rtcache.toml
cat >"$config" <<TOML
# Written by scripts/compat-cluster.sh; read by both nodes. conninfo comes from RTCACHE_PG_CONNINFO, the
# listener and the node id from RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID.
doc_types = ["wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"]

[postgres]
slot = "rtcache_compat"
publication = "rtcache_compat"
create_slot = true
create_publication = true
status_interval_ms = 200

[cluster]
nats_urls = ["$nats_url"]
stream = "rtcache_compat"
secret_file = "cluster.secret"
max_bytes = 268435456

[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
reject_values = ["rejected"]
patch = ["status", "qty"]
never_send = ["internal_notes"]
TOML

# The JWT secret and API keys (shared by both nodes) and node a's port; then node b's port.
pid_file=$work/node-a.pid
server_log=$work/node-a.log
server_env
listen_a=$RTCACHE_LISTEN
url_a=$RTCACHE_URL
port_b=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
listen_b=127.0.0.1:$port_b
url_b=http://127.0.0.1:$port_b
export RTCACHE_PG_CONNINFO=$conninfo
export RTCACHE_CONFIG=$config
export RTCACHE_CLUSTER_URLS=$url_a,$url_b
export RTCACHE_CLUSTER_PID_FILES=$work/node-a.pid,$work/node-b.pid
export RTCACHE_CLUSTER_LOGS=$work/node-a.log,$work/node-b.log
export RTCACHE_NATS_URL=$nats_url

compat_check_config "$config"

start_node() {  # NAME LISTEN
  pid_file=$work/node-$1.pid
  server_log=$work/node-$1.log
  RTCACHE_LISTEN=$2 RTCACHE_CLUSTER_NODE_ID=node-$1 server_start serve -c "$config"
}
start_node a "$listen_a"
start_node b "$listen_b"

# Ready means: both nodes answer /readyz (caught up with the stream) and one of them holds the slot and
# streams (so every commit from here on reaches the stream); the other stands by.
one_reader() {
  local readers=0 url
  for url in "$url_a" "$url_b"; do
    if metric_is "$url" rtcache_replication_reader 1 && metric_is "$url" rtcache_replication_connected 1; then
      readers=$((readers + 1))
    fi
  done
  [ "$readers" -eq 1 ]
}
for n in a b; do
  pid_file=$work/node-$n.pid
  server_log=$work/node-$n.log
  if [ "$n" = a ]; then RTCACHE_URL=$url_a; else RTCACHE_URL=$url_b; fi
  if [ "$n" = a ]; then
    server_wait_ready "${READY_SECONDS:-30}" "ready" || fail_setup "node a: $server_error"
  else
    server_wait_ready "${READY_SECONDS:-30}" "ready, with one node holding the slot" one_reader || fail_setup "node b: $server_error"
  fi
done
export RTCACHE_URL=$url_a RTCACHE_LISTEN=$listen_a RTCACHE_PID_FILE=$work/node-a.pid RTCACHE_SERVER_LOG=$work/node-a.log
reader=a
if metric_is "$url_b" rtcache_replication_reader 1; then reader=b; fi
echo "compat-cluster: nodes a ($url_a) and b ($url_b) ready on stream rtcache_compat at $nats_url, node $reader holds the slot on $conninfo ($bin)"

compat_vitest vitest.cluster.config.mjs "$@"
if [ "$failed" -ne 0 ]; then
  for n in a b; do
    echo "compat-cluster: node $n log (last 30 lines of $work/node-$n.log):"
    tail -n 30 "$work/node-$n.log" || true
  done
fi
report "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
