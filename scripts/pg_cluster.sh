#!/usr/bin/env bash
# A disposable PostgreSQL 15 cluster for rtcache's integration tests, benchmarks and demo.
#   scripts/pg_cluster.sh start DIR [PORT]   initdb (first time) and start; PORT defaults to a free one
#   scripts/pg_cluster.sh stop DIR           fast shutdown (no error if not running)
#   scripts/pg_cluster.sh restart DIR        stop, then start on the same port
#   scripts/pg_cluster.sh kill DIR           SIGKILL the postmaster (crash; its children exit on their own)
#   scripts/pg_cluster.sh conninfo DIR       the libpq connection string of the test database
#   scripts/pg_cluster.sh psql DIR [ARGS...] psql on the test database as role rtcache (-f FILE, -c SQL, ...)
#   scripts/pg_cluster.sh destroy DIR        stop and remove DIR
# The cluster: wal_level=logical, fsync off, listening on 127.0.0.1 only, unix socket inside DIR, trust auth,
# database "rtcache" owned by superuser role "rtcache". PG_CLUSTER_WAL_LEVEL=replica makes a cluster that
# logical replication refuses (to test that error). initdb and postgres refuse to run as root: as root
# they run as the "postgres" OS user, which then owns DIR.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then echo "$PG_BINDIR"; return; fi
  for v in 15 16 17 14; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then echo "/usr/lib/postgresql/$v/bin"; return; fi
  done
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  echo "pg_cluster: PostgreSQL server binaries (initdb, postgres) not found; install the Debian package" \
       "'postgresql' (apt-get install postgresql) or set PG_BINDIR" >&2
  exit 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

data() { echo "$dir/data"; }

conninfo() {
  local port
  port=$(cat "$dir/port")
  echo "host=127.0.0.1 port=$port dbname=rtcache user=rtcache"
}

wait_ready() {
  local bindir=$1 port
  port=$(cat "$dir/port")
  for _ in $(seq 1 100); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then return 0; fi
    sleep 0.1
  done
  echo "pg_cluster: server in $dir did not become ready; log:" >&2
  tail -n 30 "$dir/postgres.log" >&2 || true
  return 1
}

start() {
  local bindir port
  bindir=$(find_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "pg_cluster: running as root needs the 'postgres' OS user (created by the postgresql package)" >&2
      exit 1
    fi
    chown postgres: "$dir"
    chmod 700 "$dir"
  fi
  if [ -n "${1:-}" ]; then echo "$1" >"$dir/port"; fi
  if [ ! -s "$dir/port" ]; then free_port >"$dir/port"; fi
  port=$(cat "$dir/port")
  if [ ! -f "$(data)/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$(data)" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      echo "pg_cluster: initdb failed" >&2
      exit 1
    }
    cat >>"$(data)/postgresql.conf" <<CONF
# rtcache test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = ${PG_CLUSTER_WAL_LEVEL:-logical}
max_replication_slots = 20
max_wal_senders = 20
fsync = off
synchronous_commit = off
full_page_writes = off
wal_sender_timeout = 60s
shared_buffers = 64MB
max_connections = 60
log_min_messages = warning
CONF
    touch "$dir/.fresh"
  fi
  sed -i "s/^port = .*//" "$(data)/postgresql.conf"
  echo "port = $port" >>"$(data)/postgresql.conf"
  [ "$(id -u)" -ne 0 ] || chown -R postgres: "$dir"
  if as_owner "$bindir/pg_ctl" -D "$(data)" status >/dev/null 2>&1; then
    conninfo >"$dir/conninfo"
    echo "pg_cluster: already running on 127.0.0.1:$(cat "$dir/port") ($(conninfo))"
    return 0
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$(data)" -l "$dir/postgres.log" -w -t 30 start >"$dir/pg_ctl.log" 2>&1; then
    cat "$dir/pg_ctl.log" >&2 || true
    tail -n 30 "$dir/postgres.log" >&2 || true
    echo "pg_cluster: postgres failed to start on port $port (log above)" >&2
    exit 1
  fi
  wait_ready "$bindir"
  if [ -f "$dir/.fresh" ]; then
    as_owner "$bindir/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
      -c "CREATE ROLE rtcache LOGIN SUPERUSER REPLICATION" -c "CREATE DATABASE rtcache OWNER rtcache" >/dev/null
    rm -f "$dir/.fresh"
  fi
  conninfo >"$dir/conninfo"
  echo "pg_cluster: running on 127.0.0.1:$port ($(conninfo))"
}

stop() {
  local bindir
  bindir=$(find_bindir)
  [ -f "$(data)/PG_VERSION" ] || return 0
  if [ -f "$(data)/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$(data)" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

kill_postmaster() {
  local pid
  [ -f "$(data)/postmaster.pid" ] || { echo "pg_cluster: no postmaster.pid in $(data)" >&2; exit 1; }
  pid=$(head -n 1 "$(data)/postmaster.pid")
  kill -9 "$pid"
  # The postmaster is gone; its children exit when they notice. Wait for the port to be free again.
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  for _ in $(seq 1 100); do
    if ! pgrep -f -- "-D $(data)" >/dev/null 2>&1 && ! pgrep -P "$pid" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
}

case "$cmd" in
  start) start "${3:-}" ;;
  stop) stop ;;
  restart) stop; start ;;
  kill) kill_postmaster ;;
  conninfo) conninfo ;;
  psql)
    shift 2
    "$(find_bindir)/psql" -X -v ON_ERROR_STOP=1 "$(conninfo)" "$@"
    ;;
  destroy) stop; rm -rf "$dir" ;;
  *) usage ;;
esac
