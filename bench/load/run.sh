#!/usr/bin/env bash
# Gateway load benchmarks: starts a fresh `rtcache serve` (relay mode, a temporary secret, an ephemeral port)
# for each mode and drives it with rtcache_load. Prints one `name value unit` line per figure.
#
#   bench/load/run.sh [--quick] [--tls] [throughput] [latency] [idle] [slow]     (default: all four)
#
# RTCACHE_BIN       server binary   (default build/release/src/main/rtcache)
# RTCACHE_LOAD_BIN  generator       (default build/release/bench/load/rtcache_load)
# --quick           seconds and small counts: the smoke test the test command runs
# --tls             throughput and idle run twice, plain then over TLS (a [tls] listener with a P-256
#                   certificate from a CA made here; clients verify it and send SNI), in the same run: the TLS
#                   figures are named tls_throughput.* and tls_idle.*
# RTCACHE_IDLE_TOTAL  idle connections (default 19950)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
server_bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
load_bin=${RTCACHE_LOAD_BIN:-$root/build/release/bench/load/rtcache_load}
quick=0
tls=0
modes=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --tls) tls=1 ;;
    throughput | latency | idle | slow) modes+=("$a") ;;
    *) echo "usage: $0 [--quick] [--tls] [throughput|latency|idle|slow ...]" >&2; exit 2 ;;
  esac
done
[[ ${#modes[@]} -eq 0 ]] && modes=(throughput latency idle slow)
for b in "$server_bin" "$load_bin"; do
  [[ -x $b ]] || { echo "run.sh: $b not built (cmake --preset release && cmake --build --preset release)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/rtcache-load.XXXXXX)
export RTCACHE_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
server_pid=
port=
tls_port=
gen_pids=()
# The TLS listener's address: another loopback address than the plain listener's, so that ss tells them apart.
tls_host=127.0.1.1

cleanup() {
  for p in "${gen_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A CA and a server certificate for localhost (P-256, as most certificates issued today), for --tls.
make_certs() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
    -days 2 -subj /CN=rtcache-load-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/server.key" -out "$work/server.csr" \
    -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$work/server.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/server.pem" -days 2 -extfile "$work/server.ext" 2>/dev/null
}
tls_env=()
tls_args=()
enable_tls() {
  tls_env=(RTCACHE_TLS_CERT_FILE="$work/server.pem" RTCACHE_TLS_KEY_FILE="$work/server.key"
    RTCACHE_TLS_LISTEN="$tls_host:0")
}
disable_tls() { tls_env=(); tls_args=(); tls_port=; }

# start_server NAME [VAR=value ...]: a fresh server with the given environment; sets server_pid and port (and
# tls_port and tls_args with enable_tls).
# Every generator connects from 127.0.0.1: the per-address bound (256 by default) is off, as a server behind a
# proxy would run, so the figures measure the server rather than that bound.
start_server() {
  local name=$1
  shift
  env RTCACHE_LISTEN=127.0.0.1:0 RTCACHE_LOG_LEVEL=warn RTCACHE_MAX_CONNECTIONS_PER_IP=0 "${tls_env[@]}" "$@" \
    "$server_bin" serve \
    >"$work/$name.out" 2>"$work/$name.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    # warn level hides gateway.listening: ask the kernel which ports the server listens on
    local listening
    listening=$(ss -Hltnp 2>/dev/null | grep "pid=$server_pid," | awk '{print $4}' || true)
    port=$(grep '^127\.0\.0\.1:' <<<"$listening" | grep -o '[0-9]*$' | head -1 || true)
    if ((${#tls_env[@]})); then
      tls_port=$(grep "^${tls_host//./\\.}:" <<<"$listening" | grep -o '[0-9]*$' | head -1 || true)
      tls_args=(--tls-port "$tls_port" --tls-host "$tls_host" --ca-file "$work/ca.pem" --tls-name localhost)
      [[ -n $port && -n $tls_port ]] && return 0
    else
      [[ -n $port ]] && return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/$name.log" >&2; echo "run.sh: server did not start" >&2; exit 1; }
    sleep 0.05
  done
  echo "run.sh: server did not listen" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
fig() { printf '%s %s %s\n' "$1" "$2" "$3"; }

# run_throughput [LABEL]: with enable_tls, the clients connect over TLS.
run_throughput() {
  local label=${1:-throughput}
  local clients=1000 rate=2000 batch=100 duration=10 warmup=2
  ((quick)) && clients=100 rate=200 batch=20 duration=2 warmup=1
  start_server "$label"
  "$load_bin" throughput --label "$label" --port "$port" --server-pid "$server_pid" --clients $clients --factories 4 \
    --docs 1000 --rate $rate --batch $batch --duration $duration --warmup $warmup --sources 4 --threads 1 \
    "${tls_args[@]}"
  stop_server
}

run_latency() {
  local clients=1000 rate=5000 batch=10 duration=10 warmup=2
  ((quick)) && clients=100 rate=500 batch=10 duration=2 warmup=1
  start_server latency
  "$load_bin" throughput --label latency --port "$port" --server-pid "$server_pid" --clients $clients --factories 4 \
    --docs $clients --no-list --rate $rate --batch $batch --duration $duration --warmup $warmup --sources 4
  stop_server
}

# run_idle [LABEL]: with enable_tls, the clients connect over TLS.
run_idle() {
  local label=${1:-idle}
  # Clients spread over generator processes (20,000 open files each, hard) and source addresses.
  # 19,950 stays under the server's 20,000 open files (listener, epoll and a few more use the rest), so that
  # /metrics can still be scraped; RTCACHE_IDLE_TOTAL=20500 shows what happens beyond (accept fails with
  # EMFILE, the extra connections wait in the listen backlog).
  local total=${RTCACHE_IDLE_TOTAL:-19950} procs=3 hold=70
  ((quick)) && total=200 procs=2 hold=3
  start_server "$label" RTCACHE_MAX_CONNECTIONS=30000
  sleep 0.5
  local rss0 per=$(((total + procs - 1) / procs))
  rss0=$(rss_kib "$server_pid")
  local t0=$SECONDS
  for i in $(seq 0 $((procs - 1))); do
    "$load_bin" idle --label "$label$i" --port "$port" --clients $per --factories 4 --docs 100000 --no-list \
      --first-source $((2 + 4 * i)) --sources 4 --hold $hold --connect-timeout 30 "${tls_args[@]}" \
      >"$work/$label$i.out" 2>"$work/$label$i.err" &
    gen_pids+=($!)
  done
  for i in $(seq 0 $((procs - 1))); do
    until grep -q '^ready' "$work/$label$i.out" 2>/dev/null; do
      kill -0 "${gen_pids[$i]}" 2>/dev/null || break
      sleep 0.2
    done
  done
  sleep 1
  local connected rss1 fds
  fds=$(ls "/proc/$server_pid/fd" | wc -l)
  connected=$(metric rtcache_connections || true)
  [[ -n $connected ]] || connected=$((fds - 12))  # at the fd limit /metrics cannot be accepted either
  rss1=$(rss_kib "$server_pid")
  fig $label.connect_seconds $((SECONDS - t0)) s
  fig $label.server_connections "$connected" connections
  fig $label.server_rss_before $((rss0 / 1024)) MiB
  fig $label.server_rss_held $((rss1 / 1024)) MiB
  fig $label.server_bytes_per_connection "$(awk -v a="$rss0" -v b="$rss1" -v n="$connected" 'BEGIN { printf("%.0f", (n > 0) ? (b - a) * 1024 / n : 0) }')" bytes
  fig $label.server_open_files "$fds" files
  fig $label.server_fd_limit "$(awk '/Max open files/ {print $4}' "/proc/$server_pid/limits")" files
  for i in $(seq 0 $((procs - 1))); do wait "${gen_pids[$i]}" || true; done
  gen_pids=()
  for i in $(seq 0 $((procs - 1))); do grep -v '^ready' "$work/$label$i.out" || true; sed "s/^/# /" "$work/$label$i.err"; done
  fig $label.server_idle_closes "$(metric rtcache_idle_closes_total)" connections
  fig $label.server_accept_failures "$(grep -c 'gateway.accept_failed' "$work/$label.log" || true)" log-lines
  stop_server
}

run_slow() {
  # Per slow client: payload x rate bytes/s must outrun the kernel's socket buffers (several MiB on loopback)
  # before the server's own send queue (max_send_queue_bytes) fills and overflows.
  local clients=50 rate=500 stall=20 queue=1048576
  ((quick)) && clients=20 rate=1000 stall=4 queue=262144
  start_server slow RTCACHE_MAX_SEND_QUEUE_BYTES=$queue
  fig slow.max_send_queue_bytes $queue bytes
  "$load_bin" slow --port "$port" --server-pid "$server_pid" --clients $clients --factories 1 --docs 100 --no-doc \
    --slow-fraction 0.25 --payload-bytes 4096 --rate $rate --batch 50 --stall $stall --sources 2
  stop_server
}

((tls)) && make_certs
for m in "${modes[@]}"; do
  "run_$m" >"$work/$m.fig"
  cat "$work/$m.fig"
  if ((tls)) && [[ $m == throughput || $m == idle ]]; then
    enable_tls
    "run_$m" "tls_$m" >"$work/tls_$m.fig"
    cat "$work/tls_$m.fig"
    disable_tls
  fi
done

# Sanity of what was measured (the smoke test relies on it): every client joined, no offset was skipped,
# messages were delivered, and every slow client was closed by the server for its queue.
cat "$work"/*.fig | awk '
  $1 ~ /\.clients_failed$/ && $2 != 0 { print "run.sh: " $0; bad = 1 }
  $1 ~ /\.clients_joined$/ && $2 == 0 { print "run.sh: " $0; bad = 1 }
  $1 ~ /offset_gaps$/ && $2 != 0 { print "run.sh: " $0; bad = 1 }
  $1 ~ /\.delivered_msgs_per_s$/ && $2 == 0 { print "run.sh: " $0; bad = 1 }
  $1 == "slow.slow_clients" { slow = $2 }
  $1 == "slow.server_queue_overflow_closes_total" { closed = $2; seen = 1 }
  END {
    if (seen && closed != slow) { print "run.sh: " closed " of " slow " slow clients closed for overflow"; bad = 1 }
    exit bad
  }' >&2
