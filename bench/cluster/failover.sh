#!/usr/bin/env bash
# Failover of the WAL reader (issue 13): how long clients wait for changes when the node that reads the WAL dies,
# and whether they lose or see twice any change. Starts scripts/cluster.sh (nats-server, PostgreSQL, three nodes)
# in a scratch directory; a steady writer commits one work order per transaction in PostgreSQL (factory f1,
# every 10 ms, ids increasing in commit order, synchronous_commit on); a WebSocket client on every node
# (tests/tools/ws_watch.mjs --time) joins list:wo:f1 and records every row it receives and when. Each cycle:
#   1. kill -9 the node that holds the slot (/metrics `rtcache_replication_reader 1`, scripts/cluster.sh reader);
#   2. wait for a standby to take the slot and for a client on a surviving node to receive a row committed after
#      the kill;
#   3. restart the killed node (scripts/cluster.sh start) and a client on it, and wait until that client
#      receives rows, so that the next cycle starts with three nodes again.
# After the cycles the writer stops and the clients still connected get the last row. Figures, one
# `name value unit` line each, preceded by the machine's load:
#   failover.cycles
#   failover.p50_ms, failover.max_ms   per cycle: from the kill (the time taken just before kill -9) to the first
#                                      delivery, to a client on a node that stayed up, of a row whose transaction
#                                      took its timestamp after the kill (so it certainly committed after it)
#   failover.rows                      rows committed (SELECT count(*))
#   failover.lost                      (client, row) pairs: a row committed while the client was joined (between
#                                      the first row it received and the last row committed, or its last row when
#                                      its node was killed) that it never received. Goal 0.
#   failover.duplicated                rows a client received more than once (summed over clients). Goal 0.
#   failover.out_of_order              rows a client received after a row with a higher id. Goal 0.
#
#   bench/cluster/failover.sh [--quick] [--cycles N]     (default 10 cycles; --quick: 2)
#
# RTCACHE_BIN   the rtcache binary (default build/release/src/main/rtcache; not built here)
# FAILOVER_LOGS=DIR   keep the nodes' logs (DIR/nodeN.log) and the clients' records there
# Exit status: non-zero only when the harness fails (a cluster that does not start, no take-over within 30 s, a
# client that cannot join), never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # sign_jwt, free_port

cycles=10
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) cycles=2 ;;
    --cycles) cycles=$2; shift ;;
    *) echo "usage: $0 [--quick] [--cycles N]" >&2; exit 2 ;;
  esac
  shift
done
export RTCACHE_BIN=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
[ -x "$RTCACHE_BIN" ] || {
  echo "failover.sh: $RTCACHE_BIN not built (cmake --preset release && cmake --build --preset release --target rtcache)" >&2
  exit 2
}

work=$(mktemp -d /tmp/rtcache-failover.XXXXXX)
export CLUSTER_DIR="$work/cluster"
CLUSTER_PORTS="$(free_port) $(free_port) $(free_port)"
export CLUSTER_PORTS
writer_pid=
declare -A client_pid=() client_out=()
cleanup() {
  local p
  if [ -n "${FAILOVER_LOGS:-}" ]; then
    mkdir -p "$FAILOVER_LOGS"
    for p in 1 2 3; do cp "$CLUSTER_DIR/nodes/node$p/rtcache.log" "$FAILOVER_LOGS/node$p.log" 2>/dev/null || true; done
    cp "$work"/client.*.out "$work/cycles" "$work/rows" "$FAILOVER_LOGS/" 2>/dev/null || true
  fi
  for p in "${client_pid[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "$writer_pid" ] || kill "$writer_pid" 2>/dev/null || true
  scripts/cluster.sh destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "failover.sh: $*" >&2
  local i
  for i in 1 2 3; do
    echo "--- node$i" >&2
    tail -n 20 "$CLUSTER_DIR/nodes/node$i/rtcache.log" >&2 2>/dev/null || true
  done
  exit 1
}
# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds; dies after SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "$what (not within $seconds s)"
    sleep 0.05
  done
}
now_us() { echo $(($(date +%s%N) / 1000)); }

scripts/cluster.sh start >"$work/start.out" 2>&1 || { cat "$work/start.out" >&2; die "scripts/cluster.sh start failed"; }
eval "$(scripts/cluster.sh env)"
read -r -a urls <<<"$CLUSTER_NODE_URLS"
psql_() { scripts/pg_cluster.sh psql "$CLUSTER_PG_DIR" -X -q -v ON_ERROR_STOP=1 "$@"; }

# The writer: one row per transaction, its `number` the time (µs since the epoch) the transaction took just
# before the insert; it stops when failover_bench_control.stop is set.
psql_ >/dev/null <<'SQL'
CREATE TABLE failover_bench_control (stop boolean NOT NULL);
INSERT INTO failover_bench_control VALUES (false);
CREATE PROCEDURE failover_bench_write(pause_s float) LANGUAGE plpgsql AS $$
BEGIN
  LOOP
    EXIT WHEN (SELECT stop FROM failover_bench_control);
    INSERT INTO work_orders (factory_id, number, product)
      VALUES ('f1', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 'failover-bench');
    COMMIT;
    PERFORM pg_sleep(pause_s);
  END LOOP;
END $$;
SQL

token=$(sign_jwt "$(cat "$CLUSTER_JWT_SECRET_FILE")" "{\"role\":\"service_role\",\"exp\":$(($(date +%s) + 3600))}")
incarnation=0
# start_client N: a client on node N (a new output file per start); returns once it joined.
start_client() {
  local n=$1
  incarnation=$((incarnation + 1))
  local out="$work/client.node$n.$incarnation.out"
  node --experimental-websocket --no-warnings tests/tools/ws_watch.mjs \
    "${urls[$((n - 1))]/http:/ws:}/realtime/v1/websocket" list:wo:f1 "$token" --time >"$out" 2>&1 &
  client_pid[$n]=$!
  client_out[$n]=$out
  wait_for 30 "the client on node$n joined" grep -qs ' joined ' "$out"
}
# received N: how many rows the current client on node N received.
received() { grep -c ' broadcast ' "${client_out[$1]}" || true; }
# has_id_above N ID: the client on node N received a row with an id above ID.
has_id_above() {
  grep ' broadcast ' "${client_out[$1]}" | grep -o '"id":"[0-9]*"' | tr -dc '0-9\n' | awk -v m="$2" '$1 > m {f = 1} END {exit !f}'
}
max_id() { psql_ -tA -c "SELECT coalesce(max(id), 0) FROM work_orders WHERE product = 'failover-bench'"; }

for n in 1 2 3; do start_client "$n"; done
# synchronous_commit on for the writer (scripts/pg_cluster.sh turns it off for the whole test server):
# otherwise a commit reaches the WAL's flushed end, the only WAL a walsender sends, only at the WAL writer's
# next round (wal_writer_delay, 200 ms), which would add up to 200 ms to every delivery.
PGOPTIONS="-c synchronous_commit=on" psql_ -c "CALL failover_bench_write(0.01)" >"$work/writer.log" 2>&1 &
writer_pid=$!
has_rows() { [ "$(received "$1")" -ge 10 ]; }
for n in 1 2 3; do wait_for 30 "the client on node$n received rows" has_rows "$n"; done

: >"$work/cycles"
reader=
find_reader() { reader=$(scripts/cluster.sh reader); }
for c in $(seq 1 "$cycles"); do
  wait_for 30 "exactly one node reads the WAL" find_reader
  pid=$(scripts/cluster.sh pid "$reader")
  t_kill=$(now_us)
  kill -KILL "$pid"
  echo "$c $reader $t_kill" >>"$work/cycles"
  before=$(max_id)  # every row above it committed after the kill
  new_reader=
  taken_over() { new_reader=$(scripts/cluster.sh reader) && [ "$new_reader" != "$reader" ]; }
  wait_for 30 "a standby took the slot from node$reader" taken_over
  survivor=$((reader % 3 + 1))
  wait_for 30 "a row committed after the kill reached the client on node$survivor" has_id_above "$survivor" "$before"
  kill "${client_pid[$reader]}" 2>/dev/null || true  # its socket died with the node: it has exited or will
  scripts/cluster.sh start >"$work/restart.out" 2>&1 || { cat "$work/restart.out" >&2; die "restarting node$reader failed"; }
  start_client "$reader"
  wait_for 30 "the new client on node$reader received rows" has_rows "$reader"
  echo "cycle $c: killed node$reader, node$new_reader took over" >&2
done

psql_ -c "UPDATE failover_bench_control SET stop = true" >/dev/null
wait "$writer_pid" || die "the writer failed: $(cat "$work/writer.log")"
writer_pid=
last=$(max_id)
for n in 1 2 3; do wait_for 30 "the client on node$n received the last row ($last)" has_id_above "$n" $((last - 1)); done
psql_ -tA -F ' ' -c "SELECT id, number FROM work_orders WHERE product = 'failover-bench' ORDER BY id" >"$work/rows"
for p in "${client_pid[@]}"; do kill "$p" 2>/dev/null || true; done
client_pid=()

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The clients still joined at the end are the current ones; the others' nodes were killed under them.
python3 - "$work" "${client_out[@]}" <<'PY'
import glob, os, re, statistics, sys
work, alive = sys.argv[1], set(sys.argv[2:])
rows = {}
for line in open(os.path.join(work, "rows")):
    i, t = line.split()
    rows[int(i)] = int(t) / 1000.0  # ms
last = max(rows)
cycles = [tuple(int(x) for x in l.split()) for l in open(os.path.join(work, "cycles"))]
clients = []  # (node, path, [(t_ms, id)])
for path in sorted(glob.glob(os.path.join(work, "client.node*.out"))):
    node = int(re.search(r"client\.node(\d+)\.", path).group(1))
    got = []
    for line in open(path):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "broadcast":
            m = re.search(r'"id":"(\d+)"', parts[2])
            if m and int(m.group(1)) in rows:
                got.append((float(parts[0]), int(m.group(1))))
    clients.append((node, path, got))

def fig(name, value, unit):
    print(f"{name} {value} {unit}")

after_kill = []
for c, killed, t_kill_us in cycles:
    t_kill = t_kill_us / 1000.0
    firsts = []
    for node, path, got in clients:
        if node == killed or not got or got[0][0] > t_kill:
            continue  # not joined across this kill
        later = [t for t, i in got if t > t_kill and rows[i] > t_kill]
        if later:
            firsts.append(min(later))
    if firsts:
        after_kill.append(min(firsts) - t_kill)


lost = dup = ooo = 0
for node, path, got in clients:
    if not got:
        continue
    ids = [i for _, i in got]
    end = last if path in alive else max(ids)
    have = set(ids)
    lost += sum(1 for i in rows if ids[0] <= i <= end and i not in have)
    dup += len(ids) - len(have)
    top = 0
    seen = set()
    for i in ids:
        if i < top and i not in seen:
            ooo += 1
        seen.add(i)
        top = max(top, i)

fig("failover.cycles", len(cycles), "cycles")
fig("failover.measured_cycles", len(after_kill), "cycles")
fig("failover.p50_ms", f"{statistics.median(after_kill) if after_kill else float('nan'):.0f}", "ms")
fig("failover.max_ms", f"{max(after_kill) if after_kill else float('nan'):.0f}", "ms")
fig("failover.all_ms", ",".join(f"{x:.0f}" for x in after_kill), "ms")
fig("failover.rows", len(rows), "rows")
fig("failover.clients", len(clients), "clients")
fig("failover.lost", lost, "client-rows")
fig("failover.duplicated", dup, "client-rows")
fig("failover.out_of_order", ooo, "client-rows")
PY
