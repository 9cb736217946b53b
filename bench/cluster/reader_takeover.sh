#!/usr/bin/env bash
# How fast a standby can take over PostgreSQL's WAL after the reader dies or hangs, for the two ways of keeping
# "one WAL reader at a time" (docs/cluster.md, "One WAL reader at a time"): the replication slot itself (one
# walsender per slot) and a session advisory lock. Starts a disposable PostgreSQL 15 (scripts/pg_cluster.sh),
# holds the slot / the lock from a client process, then kills (SIGKILL) or freezes (SIGSTOP) that process and
# measures how long until a second client gets the slot / the lock. Prints one `name value unit` line each.
#
#   bench/cluster/reader_takeover.sh
#
# The holder of the slot is pg_recvlogical (test_decoding); the holder of the lock is psql. A frozen process
# keeps its TCP connection open and its kernel answers TCP keepalives, as a reader stuck in a long GC pause,
# a deadlock or a SIGSTOP would: only an application-level timeout can tell it from a live one.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$(mktemp -d /tmp/rtcache-takeover-pg.XXXXXX)
holder=0
cleanup() {
  if ((holder)); then kill -CONT "$holder" 2>/dev/null || true; kill -KILL "$holder" 2>/dev/null || true; fi
  "$root/scripts/pg_cluster.sh" destroy "$cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/pg_cluster.sh" start "$cluster" >/dev/null
conninfo=$(cat "$cluster/conninfo")
sql() { psql "$conninfo" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

sql "SELECT pg_create_logical_replication_slot('takeover', 'test_decoding')" >/dev/null

slot_active() { [ "$(sql "SELECT active FROM pg_replication_slots WHERE slot_name = 'takeover'")" = t ]; }

# Polls inside the server (every 5 ms, no client start-up in the measurement) until the slot / the lock is free
# or $1 seconds pass; prints the epoch in ms when it was seen free, or -1.
sql "CREATE FUNCTION wait_free(what text, limit_s float) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    IF what = 'slot' THEN
      EXIT WHEN NOT (SELECT active FROM pg_replication_slots WHERE slot_name = 'takeover');
    ELSE
      EXIT WHEN pg_try_advisory_lock(1313);
    END IF;
    IF clock_timestamp() - t0 > make_interval(secs => limit_s) THEN RETURN -1; END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
  IF what = 'lock' THEN PERFORM pg_advisory_unlock(1313); END IF;
  RETURN (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
END \$\$" >/dev/null

# Runs `$2` (a signal to the holder) and prints the milliseconds until `$1` is free, or "held >N" after $3 s.
measure() {
  local what=$1 signal=$2 limit=$3 out t0 seen
  out=$(mktemp)
  sql "SELECT wait_free('$what', $limit)" >"$out" &
  local waiter=$!
  sleep 0.5  # the waiter is connected and polling
  t0=$(now_ms)
  kill "-$signal" "$holder"
  wait "$waiter"
  seen=$(cat "$out")
  rm -f "$out"
  if [ "$seen" = -1 ]; then echo "held >$((limit * 1000))"; else echo $((seen - t0)); fi
}

# Starts pg_recvlogical on the slot with extra server options; waits until the slot is active.
hold_slot() {
  PGOPTIONS="$1" pg_recvlogical -d "$conninfo" --slot takeover --start -f /dev/null --status-interval 1 \
    >/dev/null 2>&1 &
  holder=$!
  for _ in $(seq 1 200); do slot_active && return 0; sleep 0.02; done
  echo "reader_takeover: the slot did not become active" >&2
  exit 1
}

release_holder() {
  exec 3>&- 2>/dev/null || true
  kill -KILL "$holder" 2>/dev/null || true
  kill -CONT "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  holder=0
}

report() { printf '%-72s %10s %s\n' "$1" "$2" "$3"; }

hold_slot ""
report "slot: kill -9 of the reader -> slot free" "$(measure slot KILL 60)" ms
release_holder

for timeout in 2s 5s; do
  hold_slot "-c wal_sender_timeout=$timeout"
  report "slot: SIGSTOP of the reader, its wal_sender_timeout=$timeout -> slot free" "$(measure slot STOP 30)" ms
  release_holder
  sleep 0.5
done

# The advisory lock: a psql session takes it and idles. Keepalives: the server probes the client's kernel after
# 1 s idle, every 1 s, and drops the session after 3 unanswered probes.
lock_held() { [ "$(sql "SELECT NOT pg_try_advisory_lock(1313) OR NOT pg_advisory_unlock(1313)")" = t ]; }
hold_lock() {
  local fifo="$cluster/lock.fifo"
  rm -f "$fifo"
  mkfifo "$fifo"
  PGOPTIONS="-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3" \
    psql "$conninfo" -X -q <"$fifo" >/dev/null 2>&1 &
  holder=$!
  exec 3>"$fifo"  # psql's stdin stays open: the session idles holding the lock
  echo "SELECT pg_advisory_lock(1313);" >&3
  for _ in $(seq 1 200); do lock_held && return 0; sleep 0.02; done
  echo "reader_takeover: the advisory lock was not taken" >&2
  exit 1
}

hold_lock
report "advisory lock: kill -9 of the holder -> lock free" "$(measure lock KILL 30)" ms
release_holder

hold_lock
report "advisory lock: SIGSTOP of the holder (keepalives 1+1x3 s) -> lock free" "$(measure lock STOP 15)" ms
release_holder
