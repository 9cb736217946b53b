#!/usr/bin/env bash
# scripts/cluster.sh, non-interactively, as an operator would use it (docs/cluster.md, "Running a cluster"): it
# starts nats-server, PostgreSQL and three nodes on free ports in a scratch directory; every /readyz answers 200;
# a row committed in PostgreSQL reaches a WebSocket client on a node that does not read the WAL, and so does a relay
# POST on the third node (issue 13: "a relay POST on node A reaches a client on node C"); the reader is killed with
# SIGKILL, a standby takes the slot and a later row and a later POST reach the same client; `start` brings the
# killed node back; `destroy` leaves no process and no directory behind.
#   cluster_script_test.sh RTCACHE_BIN
set -euo pipefail
bin=$1
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh  # sign_jwt, free_port
# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh  # server_alive

work=$(mktemp -d /tmp/rtcache-cluster-script.XXXXXX)
export CLUSTER_DIR="$work/cluster" RTCACHE_BIN="$bin"
CLUSTER_PORTS="$(free_port) $(free_port) $(free_port)"
export CLUSTER_PORTS
watch_pid=
cleanup() {
  [ -z "$watch_pid" ] || kill "$watch_pid" 2>/dev/null || true
  scripts/cluster.sh destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds; fails the test (and returns 1) after SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then fail "$what (not within $seconds s)"; return 1; fi
    sleep 0.1
  done
}
logs() {
  local i
  for i in 1 2 3; do echo "--- node$i" >&2; tail -n 15 "$CLUSTER_DIR/nodes/node$i/rtcache.log" >&2 || true; done
  echo "--- client" >&2; cat "$work/client.out" >&2 || true
}

start=$SECONDS
if ! scripts/cluster.sh start >"$work/start.out" 2>&1; then
  cat "$work/start.out" >&2
  fail "scripts/cluster.sh start failed"
  exit 1
fi
echo "started in $((SECONDS - start)) s"
eval "$(scripts/cluster.sh env)"
read -r -a urls <<<"$CLUSTER_NODE_URLS"
[ "${#urls[@]}" -eq 3 ] || fail "env names ${#urls[@]} node URLs, expected 3"
for u in "${urls[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$u/readyz")
  [ "$code" = 200 ] || fail "$u/readyz answered $code"
done
grep -q "ws://127.0.0.1:.*/realtime/v1/websocket" "$work/start.out" || fail "start printed no WebSocket URL"
grep -qF "$CLUSTER_NATS_URL" "$work/start.out" || fail "start printed no NATS URL"

# reader_index: the index (0..2) of the node whose /metrics says it holds the slot, if exactly one does.
reader_index() {
  local i n=0 found=
  for i in 0 1 2; do
    # Read whole before grep: with pipefail, grep -q quitting early would fail curl's write, and the pipeline.
    m=$(curl -fsS --max-time 5 "${urls[$i]}/metrics" 2>/dev/null || true)
    if grep -qx 'rtcache_replication_reader 1' <<<"$m"; then
      found=$i
      n=$((n + 1))
    fi
  done
  [ "$n" -eq 1 ] && echo "$found"
}
reader=
one_reader() { reader=$(reader_index); }
wait_for 20 "exactly one node reads the WAL" one_reader || { logs; exit 1; }
client=$(((reader + 1) % 3))
echo "reader node$((reader + 1)), client on node$((client + 1))"

secret=$(cat "$CLUSTER_JWT_SECRET_FILE")
token=$(sign_jwt "$secret" "{\"role\":\"service_role\",\"exp\":$(($(date +%s) + 600))}")
ws_url="${urls[$client]/http:/ws:}/realtime/v1/websocket"
node --experimental-websocket --no-warnings tests/tools/ws_watch.mjs "$ws_url" list:wo:f1 "$token" >"$work/client.out" 2>&1 &
watch_pid=$!
wait_for 20 "the client joined list:wo:f1 on node$((client + 1))" grep -q '^joined ' "$work/client.out" || { logs; exit 1; }

# commit_update: bumps one f1 work order; prints its id and new version.
commit_update() {
  scripts/pg_cluster.sh psql "$CLUSTER_PG_DIR" -qtA -F ' ' -c \
    "UPDATE work_orders SET quantity = quantity + 1 WHERE id = (SELECT min(id) FROM work_orders WHERE factory_id = 'f1') RETURNING id, version"
}
# has_event ID VERSION: the client printed an event for that work order at that version.
has_event() { grep '^broadcast ' "$work/client.out" | grep -F "\"id\":\"$1\"" | grep -E "\"version\":$2[,}]" >/dev/null; }

read -r id version <<<"$(commit_update)"
wait_for 20 "work order $id version $version reached the client on node$((client + 1)) (reader node$((reader + 1)))" \
  has_event "$id" "$version" || logs

# post_event NODE_INDEX ID VERSION: a backend's contract event, POSTed to that node; fails unless answered 202.
post_event() {
  local code
  code=$(curl -s -o "$work/post.out" -w '%{http_code}' -X POST "${urls[$1]}/v1/events" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"type\":\"wo\",\"id\":\"$2\",\"factoryId\":\"f1\",\"action\":\"update\",\"version\":$3}")
  [ "$code" = 202 ] || fail "POST /v1/events on node$(($1 + 1)) answered $code: $(cat "$work/post.out")"
}
third=$((3 - reader - client))
post_event "$third" relay-a 7
wait_for 20 "a relay POST on node$((third + 1)) reached the client on node$((client + 1)) (reader node$((reader + 1)))" \
  has_event relay-a 7 || logs

# SIGKILL the reader: the kernel closes its replication connection, a standby takes the slot.
killed=$(scripts/cluster.sh pid $((reader + 1)))
kill -KILL "$killed"
new_reader=
take_over() { new_reader=$(reader_index) && [ "$new_reader" != "$reader" ]; }
wait_for 30 "another node holds the slot after node$((reader + 1)) was killed" take_over || logs
echo "node$((reader + 1)) killed; node$((new_reader + 1)) reads the WAL"
read -r id version <<<"$(commit_update)"
wait_for 20 "work order $id version $version (after the kill) reached the client on node$((client + 1))" \
  has_event "$id" "$version" || logs
post_event "$new_reader" relay-b 8
wait_for 20 "a relay POST after the kill reached the client on node$((client + 1))" has_event relay-b 8 || logs
grep -q '^closed' "$work/client.out" && fail "the client's socket closed: $(cat "$work/client.out")"

# start brings the killed node back; status then says every node is up.
scripts/cluster.sh start >"$work/restart.out" 2>&1 || { cat "$work/restart.out" >&2; fail "start after the kill failed"; }
scripts/cluster.sh status >"$work/status.out" || fail "status after the restart: $(cat "$work/status.out")"
[ "$(grep -c 'readyz 200' "$work/status.out")" -eq 3 ] || fail "status: $(cat "$work/status.out")"

# destroy: every process it started is gone, and its directories.
pids=()
for i in 1 2 3; do pids+=("$(scripts/cluster.sh pid "$i")"); done
pids+=("$(cat "$CLUSTER_DIR/nats/pid")")
pg_pid=$(head -n 1 "$CLUSTER_PG_DIR/data/postmaster.pid" 2>/dev/null || true)
[ -n "$pg_pid" ] && pids+=("$pg_pid")
kill "$watch_pid" 2>/dev/null || true
watch_pid=
scripts/cluster.sh destroy || fail "destroy failed"
for pid in "${pids[@]}"; do
  if server_alive "$pid"; then fail "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) still runs after destroy"; fi
done
[ ! -e "$CLUSTER_DIR" ] || fail "$CLUSTER_DIR still exists after destroy"
[ ! -e "$CLUSTER_PG_DIR" ] || fail "$CLUSTER_PG_DIR still exists after destroy"

echo "cluster script test: $failures failure(s) in $((SECONDS - start)) s (root $root)"
[ "$failures" -eq 0 ]
