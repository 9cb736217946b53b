#!/usr/bin/env bash
# A disposable nats-server with JetStream for rtcache's cluster tests, benchmarks and scripts/cluster.sh.
#   scripts/nats_server.sh start DIR [PORT]   start (store in DIR/store); PORT defaults to a free one, then sticks
#   scripts/nats_server.sh stop DIR           graceful shutdown (no error if not running)
#   scripts/nats_server.sh restart DIR        stop, then start on the same port with the same store
#   scripts/nats_server.sh kill DIR           SIGKILL (crash: what was not synced may be lost, the store stays)
#   scripts/nats_server.sh url DIR            the client URL (nats://127.0.0.1:PORT)
#   scripts/nats_server.sh env DIR            NATS_URL, NATS_PID, NATS_DIR, NATS_MONITOR as shell assignments
#   scripts/nats_server.sh destroy DIR        kill the server and remove DIR
# One directory is one server: several servers run side by side from several directories. The server listens
# on 127.0.0.1 only; its monitoring port (DIR/monitor_port) answers /healthz, which says ok once JetStream is
# ready, and start waits for that. NATS_SERVER_USER + NATS_SERVER_PASS or NATS_SERVER_TOKEN, given at the first
# start, make the server require them; NATS_SERVER_TLS_CERT + NATS_SERVER_TLS_KEY (PEM files) make it speak TLS
# only (both kept in DIR/auth.conf for restarts). NATS_SERVER_BIN overrides the binary.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2

server_bin() {
  local bin=${NATS_SERVER_BIN:-nats-server}
  if ! command -v "$bin" >/dev/null; then
    echo "nats_server: '$bin' not found; install Debian's nats-server (apt-get install nats-server)" >&2
    exit 1
  fi
  command -v "$bin"
}

url() { echo "nats://127.0.0.1:$(cat "$dir/port")"; }

running_pid() {
  local pid
  [ -s "$dir/pid" ] || return 1
  pid=$(cat "$dir/pid")
  alive "$pid" || return 1
  # A recycled pid that is not our server does not count.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/server.conf" || return 1
  echo "$pid"
}

# The monitoring port: fixed after the first start, read from the ports file nats-server writes on the first.
monitor_port() {
  if [ -s "$dir/monitor_port" ]; then cat "$dir/monitor_port"; return; fi
  local pid
  pid=$(cat "$dir/pid" 2>/dev/null) || return 1
  sed -n 's|.*"monitoring":\["http://[^:]*:\([0-9]*\)".*|\1|p' "$dir/ports/nats-server_$pid.ports" 2>/dev/null
}

wait_ready() {
  local mport pid
  for _ in $(seq 1 300); do
    if ! pid=$(running_pid); then
      echo "nats_server: nats-server in $dir exited during start; log:" >&2
      tail -n 30 "$dir/server.log" >&2 || true
      return 1
    fi
    mport=$(monitor_port || true)
    # /healthz answers 200 once the server accepts clients and JetStream is up (recovering a store included).
    if [ -n "$mport" ] && curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$mport/healthz" 2>/dev/null; then
      return 0
    fi
    sleep 0.02
  done
  echo "nats_server: nats-server in $dir did not become ready; log:" >&2
  tail -n 30 "$dir/server.log" >&2 || true
  return 1
}

# After the first start on OS-chosen ports, keep them: restarts come back on the same ones.
pin_ports() {
  local pid
  pid=$(cat "$dir/pid")
  if [ ! -s "$dir/port" ]; then
    sed -n 's|.*"nats":\["[a-z]*://[^:]*:\([0-9]*\)".*|\1|p' "$dir/ports/nats-server_$pid.ports" >"$dir/port"
  fi
  if [ ! -s "$dir/monitor_port" ]; then monitor_port >"$dir/monitor_port.tmp" && mv "$dir/monitor_port.tmp" "$dir/monitor_port"; fi
  write_config "$(cat "$dir/port")" "$(cat "$dir/monitor_port")"
}

write_config() {
  local port=$1 mport=$2
  # Port -1: the OS picks a free one, which pin_ports then keeps for restarts.
  cat >"$dir/server.conf" <<CONF
# rtcache test nats-server (scripts/nats_server.sh)
server_name: rtcache_test
listen: 127.0.0.1:$port
http: 127.0.0.1:$mport
pid_file: "$dir/pid"
ports_file_dir: "$dir/ports"
jetstream {
  store_dir: "$dir/store"
  max_memory_store: 256MB
  max_file_store: 2GB
}
include ./auth.conf
CONF
  if [ ! -f "$dir/auth.conf" ]; then
    if [ -n "${NATS_SERVER_USER:-}" ]; then
      printf 'authorization { user: "%s", password: "%s" }\n' "$NATS_SERVER_USER" "${NATS_SERVER_PASS:-}" >"$dir/auth.conf"
    elif [ -n "${NATS_SERVER_TOKEN:-}" ]; then
      printf 'authorization { token: "%s" }\n' "$NATS_SERVER_TOKEN" >"$dir/auth.conf"
    else
      echo "# no authorization" >"$dir/auth.conf"
    fi
    if [ -n "${NATS_SERVER_TLS_CERT:-}" ]; then
      printf 'tls { cert_file: "%s", key_file: "%s" }\n' "$NATS_SERVER_TLS_CERT" "${NATS_SERVER_TLS_KEY:-}" >>"$dir/auth.conf"
    fi
  fi
}

start() {
  local bin pid
  bin=$(server_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if pid=$(running_pid); then
    echo "nats_server: already running on $(url) (pid $pid)"
    return 0
  fi
  if [ -n "${1:-}" ]; then echo "$1" >"$dir/port"; fi
  mkdir -p "$dir/ports"
  write_config "$(cat "$dir/port" 2>/dev/null || echo -1)" "$(cat "$dir/monitor_port" 2>/dev/null || echo -1)"
  rm -f "$dir/pid"
  # setsid: the server does not belong to the caller's process group, so a test runner's Ctrl-C or a kill of the
  # test's group leaves it to `stop`/`destroy` (the ctest fixture's cleanup).
  setsid "$bin" -c "$dir/server.conf" >>"$dir/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 250); do
    [ -s "$dir/pid" ] && break
    sleep 0.02
  done
  wait_ready
  pin_ports
  url >"$dir/url"
  echo "nats_server: running on $(url) (pid $(cat "$dir/pid"), store $dir/store, monitor http://127.0.0.1:$(cat "$dir/monitor_port"))"
}

# Gone, or a zombie: the server runs detached (setsid), so whoever adopted it reaps it in its own time.
alive() {
  local state
  state=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

wait_gone() {
  local pid=$1
  for _ in $(seq 1 300); do
    alive "$pid" || return 0
    sleep 0.02
  done
  return 1
}

stop() {
  local pid
  [ -d "$dir" ] || return 0
  pid=$(running_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid"; then
    echo "nats_server: pid $pid did not stop within 6 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" || true
  fi
}

kill_server() {
  local pid
  pid=$(running_pid) || { echo "nats_server: no running server in $dir" >&2; exit 1; }
  kill -KILL "$pid"
  wait_gone "$pid"
}

case "$cmd" in
  start) start "${3:-}" ;;
  stop) stop ;;
  restart) stop; start ;;
  kill) kill_server ;;
  url) url ;;
  env)
    dir=$(cd "$dir" && pwd)
    echo "NATS_URL=$(url)"
    echo "NATS_PID=$(running_pid || echo 0)"
    echo "NATS_DIR=$dir"
    echo "NATS_MONITOR=http://127.0.0.1:$(cat "$dir/monitor_port")"
    ;;
  destroy)
    # Nothing in DIR is kept, so a graceful shutdown (about 2 s) buys nothing.
    if pid=$(running_pid); then kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" || true; fi
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
