#!/usr/bin/env bash
# Compatibility suite, cluster phase (issue 13): the real @supabase/supabase-js against two `rtcache serve -c FILE`
# nodes that share one NATS JetStream stream ([cluster]), in two passes. Starts a disposable PostgreSQL
# (scripts/pg_cluster.sh) and a disposable nats-server (scripts/nats_server.sh), each on a free port in a temp dir
# (stopped and destroyed on exit, also on failure), and creates the table. Per pass: writes one config file both
# nodes read, starts node a and node b (per node: RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID), waits for both
# /readyz and for one of them to write the stream, then runs vitest.cluster.config.mjs with RTCACHE_CLUSTER_PASS:
#   pg     [postgres] + [cluster] (stream rtcache_compat_pg): one node holds the slot (`rtcache_replication_reader
#          1`, streaming); tests/compat/test/cluster/*.test.mjs
#   relay  [cluster] without [postgres] (stream rtcache_compat_relay): the nodes elect the writer with a lease (one
#          log has `event=cluster.relay_writer_started`); test/cluster/30_relay and test/cluster/relay-only/
#   RTCACHE_BIN            the server binary (default build/release/src/main/rtcache)
#   READY_SECONDS          how long to wait for the nodes and the replication stream (default 30)
#   COMPAT_CLUSTER_PASSES  which passes run, in order (default "pg relay")
#   COMPAT_CLUSTER_COUNTS  if set, "passed failed skipped" (both passes summed) is also written to this file
#                          (scripts/compat.sh sums)
#   COMPAT_NO_NPM_CI=1     skip `npm ci` (scripts/compat.sh already ran it)
# The tests read RTCACHE_CLUSTER_URLS (the nodes' base URLs, comma-separated, node a first),
# RTCACHE_CLUSTER_PID_FILES (their pid files, same order; the fail-over tests kill one with SIGKILL) and
# RTCACHE_CLUSTER_LOGS (their logs, same order). Extra arguments go to vitest, in each pass. Prints each pass's
# counts and ends with "compat-cluster: N passed, M failed, K skipped" (both passes). PostgreSQL or nats-server
# that cannot start is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source-path=SCRIPTDIR source=lib/compat.sh
. scripts/lib/compat.sh compat-cluster "${COMPAT_CLUSTER_COUNTS:-}"

# Two passes, each with its own pair of nodes on its own stream of the one nats-server (COMPAT_CLUSTER_PASSES, default
# "pg relay"): `pg` with [postgres] + [cluster] (the slot holder writes the stream), `relay` with [cluster] and no
# [postgres] (the lease holder writes it). Node files are $work/<pass>-node-<a|b>.{pid,log}.
passes=${COMPAT_CLUSTER_PASSES:-pg relay}
for p in $passes; do
  case $p in pg | relay) ;; *) fail_setup "unknown pass '$p' in COMPAT_CLUSTER_PASSES (pg, relay)" ;; esac
done
compat_stop_servers() {  # RC
  for pid_file in "$work"/*-node-*.pid; do
    if [ -e "$pid_file" ]; then server_stop; fi
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

# PostgreSQL (the pg pass): a fresh cluster on a free port, with the mapped table of the PostgreSQL phase
# (scripts/lib/compat.sh).
case " $passes " in *" pg "*) compat_postgres "" ;; esac  # the mapped table alone

# nats-server with JetStream: a fresh store on a free port.
scripts/nats_server.sh start "$nats_dir" >"$work/nats_server.log" 2>&1 || {
  cat "$work/nats_server.log" >&2
  fail_setup "nats-server did not start (scripts/nats_server.sh start $nats_dir)"
}
nats_url=$(scripts/nats_server.sh url "$nats_dir")

# One secret, one JWT secret and one pair of API keys for every node (server_env; its port is not used).
node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))' >"$work/cluster.secret"
pid_file=/dev/null server_log=/dev/null server_env
export RTCACHE_NATS_URL=$nats_url

# write_config PASS: one file for both nodes of the pass, as docs/operations.md has it: what differs per node comes
# from the environment. Client broadcasts on, a limit the 50-message ordering test stays inside, and the relay
# phase's private-channel rule (tests/compat/relay.toml) for test/cluster/30_relay.
write_config() {
  config=$work/$1.toml
  {
    echo "# Written by scripts/compat-cluster.sh (pass $1); read by both nodes. The listener and the node id come from"
    echo "# RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID, conninfo (pass pg) from RTCACHE_PG_CONNINFO."
    echo 'doc_types = ["wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"]'
    if [ "$1" = pg ]; then
      cat <<TOML

[postgres]
slot = "rtcache_compat"
publication = "rtcache_compat"
create_slot = true
create_publication = true
status_interval_ms = 200
TOML
    fi
    cat <<TOML

[cluster]
nats_urls = ["$nats_url"]
stream = "rtcache_compat_$1"
secret_file = "cluster.secret"
max_bytes = 268435456

[broadcast]
from_clients = "all"

[limits]
client_broadcasts_per_second = 100
client_broadcast_burst = 100

[[channels.private]]
topic = "team:*"
roles = ["authenticated"]
claims = { "app_metadata.teams" = "{1}" }
actions = ["read", "write"]
TOML
    if [ "$1" = pg ]; then
      cat <<TOML

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
    fi
  } >"$config"
  compat_check_config "$config"
}

# Ready means: both nodes answer /readyz (caught up with the stream) and exactly one of them writes the stream:
# pass pg, it holds the slot and streams (so every commit from here on reaches the stream), the other stands by;
# pass relay, it holds the lease (its log says so: /metrics does not tell the holder apart).
one_reader() {
  local readers=0 url
  for url in "${urls[@]}"; do
    if metric_is "$url" rtcache_replication_reader 1 && metric_is "$url" rtcache_replication_connected 1; then
      readers=$((readers + 1))
    fi
  done
  [ "$readers" -eq 1 ]
}
one_writer() {
  local writers=0 n
  for n in a b; do
    if grep -q 'event=cluster.relay_writer_started' "$work/$pass-node-$n.log"; then writers=$((writers + 1)); fi
  done
  [ "$writers" -eq 1 ]
}

# run_pass PASS ARGS...: nodes a and b on the pass's config, waited for, then vitest.cluster.config.mjs with
# RTCACHE_CLUSTER_PASS=PASS (which files run) and ARGS; its counts are added to the phase's. The nodes stay until
# the exit trap (the pass's last test may have killed one).
total_passed=0 total_failed=0 total_skipped=0
run_pass() {
  pass=$1
  shift
  if [ "$pass" = pg ]; then export RTCACHE_PG_CONNINFO=$conninfo; else unset RTCACHE_PG_CONNINFO; fi
  write_config "$pass"
  local n ready_check
  urls=()
  local pids=() logs=()
  for n in a b; do
    local port
    port=$(free_port)
    urls+=("http://127.0.0.1:$port")
    pids+=("$work/$pass-node-$n.pid")
    logs+=("$work/$pass-node-$n.log")
    pid_file=$work/$pass-node-$n.pid
    server_log=$work/$pass-node-$n.log
    RTCACHE_LISTEN=127.0.0.1:$port RTCACHE_CLUSTER_NODE_ID=node-$n server_start serve -c "$config"
  done
  if [ "$pass" = pg ]; then ready_check=one_reader; else ready_check=one_writer; fi
  for n in 0 1; do
    pid_file=${pids[$n]} server_log=${logs[$n]} RTCACHE_URL=${urls[$n]}
    if [ "$n" -eq 0 ]; then
      server_wait_ready "${READY_SECONDS:-30}" "ready" || fail_setup "pass $pass, node a: $server_error"
    else
      server_wait_ready "${READY_SECONDS:-30}" "ready, with one node writing the stream" "$ready_check" ||
        fail_setup "pass $pass, node b: $server_error"
    fi
  done
  export RTCACHE_CLUSTER_PASS=$pass RTCACHE_CONFIG=$config
  export RTCACHE_CLUSTER_URLS="${urls[0]},${urls[1]}"
  export RTCACHE_CLUSTER_PID_FILES="${pids[0]},${pids[1]}"
  export RTCACHE_CLUSTER_LOGS="${logs[0]},${logs[1]}"
  export RTCACHE_URL=${urls[0]} RTCACHE_LISTEN=${urls[0]#http://} RTCACHE_PID_FILE=${pids[0]} RTCACHE_SERVER_LOG=${logs[0]}
  local writer=a
  if [ "$pass" = pg ]; then
    if metric_is "${urls[1]}" rtcache_replication_reader 1; then writer=b; fi
    echo "compat-cluster: pass pg: nodes a (${urls[0]}) and b (${urls[1]}) ready on stream rtcache_compat_pg at $nats_url, node $writer holds the slot on $conninfo ($bin)"
  else
    if grep -q 'event=cluster.relay_writer_started' "${logs[1]}"; then writer=b; fi
    echo "compat-cluster: pass relay (no [postgres]): nodes a (${urls[0]}) and b (${urls[1]}) ready on stream rtcache_compat_relay at $nats_url, node $writer holds the lease ($bin)"
  fi

  compat_vitest vitest.cluster.config.mjs "$@"
  echo "compat-cluster: pass $pass: $passed passed, $failed failed, $skipped skipped"
  if [ "$failed" -ne 0 ]; then
    for n in 0 1; do
      echo "compat-cluster: pass $pass, node $([ "$n" -eq 0 ] && echo a || echo b) log (last 30 lines of ${logs[$n]}):"
      tail -n 30 "${logs[$n]}" || true
    done
  fi
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed)) total_skipped=$((total_skipped + skipped))
}

for p in $passes; do run_pass "$p" "$@"; done
report "$total_passed" "$total_failed" "$total_skipped"
[ "$total_failed" -eq 0 ]
