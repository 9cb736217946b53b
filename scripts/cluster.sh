#!/usr/bin/env bash
# A local rtcache cluster (docs/cluster.md, "Running a cluster"): a nats-server with JetStream, PostgreSQL 15 and
# three `rtcache serve` nodes on 127.0.0.1, every node with the same config file, the same [postgres] slot and the
# same stream; one node reads the WAL into the stream, the other two stand by, and every node serves clients.
#   scripts/cluster.sh [run]    start everything, print the URLs, stop everything on Ctrl-C (or SIGTERM)
#   scripts/cluster.sh start    start what is not running (a node you killed too), print the URLs, return
#   scripts/cluster.sh stop     stop the nodes, nats-server and PostgreSQL (data kept)
#   scripts/cluster.sh status   each node's pid, /readyz and role (reader or standby); exit 1 unless all are up
#   scripts/cluster.sh env      CLUSTER_NATS_URL, CLUSTER_PG_CONNINFO, CLUSTER_NODE_URLS, ... as shell assignments
#   scripts/cluster.sh pid N    the pid of node N (1..3)
#   scripts/cluster.sh reader   the number of the node that holds the slot; exit 1 unless exactly one does
#   scripts/cluster.sh destroy  stop, then remove the data (nats store, PostgreSQL, secrets, logs)
# Data under var/cluster/ (CLUSTER_DIR): nats/ (the JetStream store), pg/ (as root in a checkout the postgres
# user cannot reach: /var/tmp/rtcache-cluster-<hash>/pg), nodes/nodeN/ (pid, log), the JWT secret and the
# cluster secret. The nodes' shared config is CLUSTER_CONFIG (default examples/factory-app/rtcache.toml, the
# demo's mapping, whose schema and seed are loaded once: CLUSTER_SQL, a space-separated list of SQL files, empty
# for none; a config without [postgres] starts no PostgreSQL); what differs per node comes from the
# environment: RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID, and RTCACHE_CLUSTER_NATS_URLS,
# RTCACHE_CLUSTER_SECRET_FILE, RTCACHE_PG_CONNINFO, RTCACHE_JWT_SECRET for all.
#   CLUSTER_PORTS="4001 4002 4003"   the nodes' ports (default)
#   RTCACHE_BIN=PATH                 the rtcache binary (default: build/release, built when RTCACHE_BIN is unset)
#   DEMO_CLUSTER=1 scripts/demo.sh   the demo factory against this cluster (docs/demo.md)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd=${1:-run}
mkdir -p "${CLUSTER_DIR:-var/cluster}"
state=$(cd "${CLUSTER_DIR:-var/cluster}" && pwd)
read -r -a ports <<<"${CLUSTER_PORTS:-4001 4002 4003}"
[ "${#ports[@]}" -ge 1 ] || { echo "cluster: CLUSTER_PORTS names no port" >&2; exit 2; }
config=${CLUSTER_CONFIG:-$root/examples/factory-app/rtcache.toml}
read -r -a sql_files <<<"${CLUSTER_SQL-$root/examples/factory-app/db/schema.sql $root/examples/factory-app/db/seed.sql}"
nats_dir="$state/nats"
pg_dir=$(pg_data_dir "$state" cluster "$state")
mkdir -p "$state/logs"

say() { echo "cluster: $*"; }
die() {
  echo "cluster: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { tail -n 30 "$2" >&2; echo "cluster: full log: $2" >&2; }
  exit 1
}

# with_postgres: the config has a [postgres] section (without one, no PostgreSQL is started: the nodes only
# share the stream).
with_postgres() { grep -qE '^\[postgres\]' "$config"; }

node_url() { echo "http://127.0.0.1:${ports[$(($1 - 1))]}"; }
node_dir() { echo "$state/nodes/node$1"; }

# node_pid N: the pid of node N while it runs (a recycled pid that is not an rtcache serve does not count).
node_pid() {
  local pid
  pid=$(cat "$(node_dir "$1")/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q " serve " || return 1
  echo "$pid"
}

# node_role N: "reader" while node N holds the replication slot, "standby" while it runs the source without it,
# "-" without [postgres] or when /metrics does not answer.
node_role() {
  local m
  m=$(curl -fsS --max-time 2 "$(node_url "$1")/metrics" 2>/dev/null | grep -E '^rtcache_replication_reader ' || true)
  case "$m" in
    *" 1") echo reader ;;
    *" 0") echo standby ;;
    *) echo - ;;
  esac
}

readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(node_url "$1")/readyz" 2>/dev/null || true; }

resolve_bin() {
  if [ -n "${RTCACHE_BIN:-}" ]; then
    rtcache_bin=$RTCACHE_BIN
  else
    say "building rtcache (release; log: $state/logs/build.log)"
    { cmake --preset release && cmake --build --preset release -j"$(nproc)" --target rtcache; } \
      >"$state/logs/build.log" 2>&1 || die "build failed" "$state/logs/build.log"
    rtcache_bin="$root/build/release/src/main/rtcache"
  fi
  [ -x "$rtcache_bin" ] || die "no rtcache binary at $rtcache_bin"
}

start() {
  resolve_bin
  scripts/nats_server.sh start "$nats_dir" >"$state/logs/nats.log" 2>&1 || die "nats-server did not start" "$state/logs/nats.log"
  local nats_url
  nats_url=$(scripts/nats_server.sh url "$nats_dir")
  local jwt_secret
  jwt_secret=$(secret_file "$state/jwt_secret")
  secret_file "$state/cluster.secret" >/dev/null
  # What every node shares besides the file; RTCACHE_LISTEN and RTCACHE_CLUSTER_NODE_ID are added per node.
  local shared=(RTCACHE_CLUSTER_NATS_URLS="$nats_url" RTCACHE_CLUSTER_SECRET_FILE="$state/cluster.secret"
    RTCACHE_JWT_SECRET="$jwt_secret")
  if with_postgres; then
    scripts/pg_cluster.sh start "$pg_dir" >"$state/logs/pg.log" 2>&1 || die "PostgreSQL did not start" "$state/logs/pg.log"
    local conninfo f
    conninfo=$(scripts/pg_cluster.sh conninfo "$pg_dir")
    if [ ! -f "$pg_dir/.rtcache_loaded" ]; then
      for f in "${sql_files[@]}"; do
        scripts/pg_cluster.sh psql "$pg_dir" -q -f "$f" >>"$state/logs/pg.log" 2>&1 || die "loading $f failed" "$state/logs/pg.log"
      done
      # Inside the data directory: a new PostgreSQL (destroy, or a new /var/tmp home) is loaded again.
      touch "$pg_dir/.rtcache_loaded"
    fi
    shared+=(RTCACHE_PG_CONNINFO="$conninfo")
  fi
  env "${shared[@]}" RTCACHE_LISTEN="127.0.0.1:${ports[0]}" RTCACHE_CLUSTER_NODE_ID=node1 \
    "$rtcache_bin" check-config "$config" >"$state/logs/check-config.log" 2>&1 ||
    die "rtcache check-config refuses $config with the cluster's settings" "$state/logs/check-config.log"

  local i started=()
  for i in $(seq 1 "${#ports[@]}"); do
    node_pid "$i" >/dev/null && continue
    mkdir -p "$(node_dir "$i")"
    # scripts/lib/server.sh's server_start runs "$bin" ARGS in the background and keeps its pid in $pid_file;
    # env execs rtcache, so that pid is the node's.
    local pid_file="$state/nodes/node$i/pid" server_log="$state/nodes/node$i/rtcache.log" bin=env
    echo "--- start $(date -u +%FT%TZ)" >>"$server_log"
    server_start "${shared[@]}" RTCACHE_LISTEN="127.0.0.1:${ports[$((i - 1))]}" RTCACHE_CLUSTER_NODE_ID="node$i" \
      "$rtcache_bin" serve -c "$config"
    started+=("$i")
  done
  for i in "${started[@]}"; do
    local pid_file="$state/nodes/node$i/pid" server_log="$state/nodes/node$i/rtcache.log" RTCACHE_URL
    RTCACHE_URL=$(node_url "$i")
    server_wait_ready 60 "ready" >/dev/null || die "node$i: $server_error" "$server_log"
  done
  # With [postgres], one node must hold the slot: wait until one does (a standby takes over within about
  # standby_retry_ms of a freed slot; a killed reader's slot is freed at once).
  if with_postgres; then
    local _
    for _ in $(seq 1 300); do
      for i in $(seq 1 "${#ports[@]}"); do [ "$(node_role "$i")" = reader ] && return 0; done
      sleep 0.1
    done
    die "no node holds the replication slot after 30 s" "$(node_dir 1)/rtcache.log"
  fi
}

stop() {
  local i
  for i in $(seq 1 "${#ports[@]}"); do
    node_pid "$i" >/dev/null || continue
    local pid_file="$state/nodes/node$i/pid"
    server_stop
  done
  scripts/nats_server.sh stop "$nats_dir" >/dev/null 2>&1 || true
  scripts/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
}

# status_table: one line per node; returns 1 unless every node runs and answers /readyz 200.
status_table() {
  local i pid code role all=0
  for i in $(seq 1 "${#ports[@]}"); do
    if pid=$(node_pid "$i"); then
      code=$(readyz "$i")
      role=$(node_role "$i")
      [ "$code" = 200 ] || all=1
    else
      pid=- code=- role=- all=1
    fi
    printf '  node%s  %-24s ws://127.0.0.1:%s/realtime/v1/websocket  pid %-7s readyz %-3s %s\n' \
      "$i" "$(node_url "$i")" "${ports[$((i - 1))]}" "$pid" "$code" "$role"
  done
  return "$all"
}

print_info() {
  echo
  echo "The rtcache cluster is running (every node serves WebSocket clients; one reads the WAL):"
  status_table || true
  echo "  NATS:        $(scripts/nats_server.sh url "$nats_dir")   (JetStream store $nats_dir/store)"
  echo "  PostgreSQL:  $(scripts/pg_cluster.sh conninfo "$pg_dir")"
  echo "  config:      $config (shared; per node RTCACHE_LISTEN, RTCACHE_CLUSTER_NODE_ID)"
  echo "  JWT secret:  $state/jwt_secret   logs: $state/nodes/nodeN/rtcache.log"
  echo "Try: kill -9 the reader's pid and watch a standby take over (scripts/cluster.sh status); scripts/cluster.sh"
  echo "start brings a stopped node back."
}

case "$cmd" in
  run)
    # TERM, INT and a failed start all end in one stop.
    trap 'trap - EXIT; echo; say "stopping"; stop; say "stopped (data kept in $state)"' EXIT
    trap 'exit 130' INT TERM
    start
    print_info
    echo "Ctrl-C stops everything."
    echo
    declare -A gone=()
    while true; do
      for i in $(seq 1 "${#ports[@]}"); do
        if node_pid "$i" >/dev/null; then
          unset "gone[$i]"
        elif [ -z "${gone[$i]:-}" ]; then
          gone[$i]=1
          say "node$i exited (log: $(node_dir "$i")/rtcache.log); scripts/cluster.sh start restarts it"
        fi
      done
      sleep 1
    done
    ;;
  start)
    start
    print_info
    ;;
  stop) stop ;;
  status)
    status_table
    ;;
  env)
    urls=()
    for i in $(seq 1 "${#ports[@]}"); do urls+=("$(node_url "$i")"); done
    echo "CLUSTER_DIR=$state"
    echo "CLUSTER_NATS_URL=$(scripts/nats_server.sh url "$nats_dir")"
    echo "CLUSTER_PG_DIR=$pg_dir"
    echo "CLUSTER_PG_CONNINFO='$(scripts/pg_cluster.sh conninfo "$pg_dir")'"
    echo "CLUSTER_NODE_URLS='${urls[*]}'"
    echo "CLUSTER_JWT_SECRET_FILE=$state/jwt_secret"
    ;;
  pid)
    [ -n "${2:-}" ] || usage
    node_pid "$2"
    ;;
  reader)
    readers=()
    for i in $(seq 1 "${#ports[@]}"); do [ "$(node_role "$i")" = reader ] && readers+=("$i"); done
    [ "${#readers[@]}" -eq 1 ] || exit 1
    echo "${readers[0]}"
    ;;
  destroy)
    stop
    scripts/nats_server.sh destroy "$nats_dir" >/dev/null 2>&1 || true
    scripts/pg_cluster.sh destroy "$pg_dir" >/dev/null 2>&1 || true
    # The /var/tmp home pg_data_dir made for root, if any.
    [ "$pg_dir" = "$state/pg" ] || rmdir "$(dirname "$pg_dir")" 2>/dev/null || true
    rm -rf "$state"
    ;;
  *) usage ;;
esac
