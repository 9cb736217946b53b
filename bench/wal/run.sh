#!/usr/bin/env bash
# WAL -> event throughput: starts a disposable PostgreSQL 15 (scripts/pg_cluster.sh), creates the mapped tables
# (REPLICA IDENTITY FULL), the publication and four logical slots, writes the workload, then runs
# rtcache_wal_bench, which measures in the same run (a) PostgreSQL's own pgoutput decoding of the workload
# (pg_logical_slot_get_binary_changes on one slot), (b) rtcache's pg::source streaming another slot over a
# replication connection into the hub and (d) a null consumer reading a third slot with the same loop and
# discarding every message; then (c) PostgreSQL's own streaming client,
# pg_recvlogical, on the fourth. Prints one `name value unit` line per figure. Docs: docs/benchmarks-wal.md.
#
#   bench/wal/run.sh [--quick] [--unix] [--no-doc-subscribers]
#
# RTCACHE_WAL_BENCH_BIN  the program (default build/release/bench/wal/rtcache_wal_bench)
# RTCACHE_WAL_BENCH_WRAP a command prefix for the program, e.g. "perf record -g -o /tmp/wal.perf --"
# --quick                ~15,000 row changes (seconds): the smoke run of the test command
# --unix                 replication connections over the cluster's unix socket instead of loopback TCP
# --no-doc-subscribers   nobody joins the doc: channels, so their messages are dropped unencoded (the hub's
#                        rule); list:, factory: and the per-table record channels keep their subscriber
# Exit status: non-zero only when the harness fails (cluster, SQL, program), never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin=${RTCACHE_WAL_BENCH_BIN:-$root/build/release/bench/wal/rtcache_wal_bench}
quick=0
doc_subscribers=1
transport=tcp
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --unix) transport=unix ;;
    --no-doc-subscribers) doc_subscribers=0 ;;
    *) echo "usage: $0 [--quick] [--unix] [--no-doc-subscribers]" >&2; exit 2 ;;
  esac
done
if [[ ! -x $bench_bin ]]; then
  echo "run.sh: $bench_bin not built" \
       "(cmake --preset release && cmake --build --preset release --target rtcache_wal_bench)" >&2
  exit 2
fi

# Workload shape (see bench_workload in workload.sql). Full: 301,000 row changes in 13,740 transactions.
factories=8
if ((quick)); then
  n_wo=3000 n_pl=2000 small_tx=600 bulk_tx=2 move_tx=10 delete_tx=20
else
  n_wo=60000 n_pl=40000 small_tx=12000 bulk_tx=40 move_tx=100 delete_tx=400
fi

cluster=$(mktemp -d /tmp/rtcache-wal-pg.XXXXXX)
cleanup() { "$root/scripts/pg_cluster.sh" destroy "$cluster" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/pg_cluster.sh" start "$cluster" >/dev/null
conninfo=$(cat "$cluster/conninfo")
# What the streaming paths connect with; the SQL decoding runs inside the server, so its transport is moot.
stream_conninfo=$conninfo
if [[ $transport == unix ]]; then stream_conninfo="host=$cluster port=$(cat "$cluster/port") dbname=rtcache user=rtcache"; fi
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$conninfo" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

sql -f "$root/bench/wal/workload.sql" >/dev/null
# Both slots exist before the workload, so both see exactly the same changes.
sql -c "SELECT pg_create_logical_replication_slot('bench_pg', 'pgoutput')" >/dev/null
sql -c "SELECT pg_create_logical_replication_slot('bench_rt', 'pgoutput')" >/dev/null
sql -c "SELECT pg_create_logical_replication_slot('bench_rx', 'pgoutput')" >/dev/null
sql -c "SELECT pg_create_logical_replication_slot('bench_nl', 'pgoutput')" >/dev/null

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
     "$(sql -c 'SHOW server_version' | cut -d' ' -f1) PostgreSQL," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at start, replication over $transport"
start=$(date +%s.%N)
sql -c "CALL bench_workload($n_wo, $n_pl, $factories, $small_tx, $bulk_tx, $move_tx, $delete_tx)" >/dev/null
end=$(date +%s.%N)
IFS='|' read -r rows txs < <(sql -c "SELECT row_changes, transactions FROM bench_counts")
echo "# workload: $rows row changes in $txs transactions over $factories factories, written in" \
     "$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e - s}') s:" \
     "$((n_wo + n_pl)) inserts (50 per table a transaction)," \
     "$small_tx x 10 updates of 3 columns, $bulk_tx x 1000 bulk status updates, $move_tx x 10 factory moves," \
     "$delete_tx x 100 deletes"
wal=$(sql -c "SELECT pg_size_pretty(pg_current_wal_lsn() - confirmed_flush_lsn)
               FROM pg_replication_slots WHERE slot_name = 'bench_rt'")
echo "# WAL to decode: $wal"

${RTCACHE_WAL_BENCH_WRAP:-} "$bench_bin" --conninfo "$stream_conninfo" --mapping "$root/bench/wal/mapping.toml" \
  --pg-slot bench_pg --rt-slot bench_rt --null-slot bench_nl --publication bench_pub \
  --expect-rows "$rows" --transactions "$txs" \
  --doc "wo:$((n_wo * doc_subscribers))" --doc "pl:$((n_pl * doc_subscribers))" --factories "$factories" \
  --table public.bench_wo --table public.bench_pl | tee "$cluster/figures"

# (c) The same changes streamed by PostgreSQL's own client, pg_recvlogical (walsender -> a consumer that only
# writes the messages to /dev/null): what streaming replication itself costs on this machine, whoever consumes.
# Its stop position is the last change's LSN, found by peeking the slot before the clock starts.
endpos=$(sql -c "SELECT max(lsn) FROM pg_logical_slot_peek_binary_changes('bench_rx', NULL, NULL,
                   'proto_version', '1', 'publication_names', 'bench_pub')")
rx_start=$(date +%s.%N)
/usr/lib/postgresql/15/bin/pg_recvlogical -d "$stream_conninfo" -S bench_rx --start --no-loop -s 1 -F 0 \
  --endpos="$endpos" -o proto_version=1 -o publication_names=bench_pub -f /dev/null
rx_end=$(date +%s.%N)
awk -v s="$rx_start" -v e="$rx_end" -v n="$rows" 'BEGIN {
  printf "pg_recvlogical_seconds %.3f s\npg_recvlogical_rate %.0f changes/s\n", e - s, n / (e - s) }' |
  tee -a "$cluster/figures"
awk '$1 == "rtcache_rate" { rt = $2 } $1 == "pg_recvlogical_rate" { rx = $2 }
     END { if (rt > 0 && rx > 0) printf "ratio_rtcache_to_pg_recvlogical %.1f %%\n", 100 * rt / rx }' "$cluster/figures"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
