#!/usr/bin/env bash
# The cluster's benchmarks (issue 13). Prints one `name value unit` line per figure, each part preceded by the
# machine's load. Figures and what they mean: docs/cluster.md ("Figures") and docs/benchmarks.md ("The cluster").
#
#   bench/cluster/run.sh [--quick] [nats] [failover] [idle] [latency] [relay] [storm]     (default: all six)
#
#   nats      the NATS layer: starts a disposable nats-server with JetStream (scripts/nats_server.sh, file store
#             under /tmp), runs rtcache_nats_bench against it and removes the server
#   failover  bench/cluster/failover.sh: kill -9 of the WAL reader of a three-node cluster, cycle after cycle
#   idle      bench/cluster/idle.sh: idle connections held across two nodes
#   latency   bench/cluster/latency.sh: commit → client latency through the stream, two nodes against one
#   relay     bench/cluster/relay.sh: relay ingest POSTed on one node, received on another, against one node
#   storm     bench/cluster/storm.sh: every client of one node resumes on another at once (range fetches), and
#             what that does to the second node's other connections
#
# RTCACHE_NATS_BENCH_BIN  the NATS program (default build/release/bench/cluster/rtcache_nats_bench); the other
#                         variables as failover.sh, idle.sh, latency.sh, relay.sh and storm.sh say
# --quick                 seconds, not minutes: the smoke run the test command runs
# Exit status: non-zero only when a harness fails, never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin=${RTCACHE_NATS_BENCH_BIN:-$root/build/release/bench/cluster/rtcache_nats_bench}
args=()
parts=()
for a in "$@"; do
  case "$a" in
    --quick) args+=(--quick) ;;
    nats | failover | idle | latency | relay | storm) parts+=("$a") ;;
    *) echo "usage: $0 [--quick] [nats|failover|idle|latency|relay|storm ...]" >&2; exit 2 ;;
  esac
done
[[ ${#parts[@]} -eq 0 ]] && parts=(nats failover idle latency relay storm)
for p in "${parts[@]}"; do
  [[ $p == nats ]] || "$root/bench/cluster/$p.sh" "${args[@]}"
done
[[ " ${parts[*]} " == *" nats "* ]] || exit 0
if [[ ! -x $bench_bin ]]; then
  echo "run.sh: $bench_bin not built" \
       "(cmake --preset release && cmake --build --preset release --target rtcache_nats_bench)" >&2
  exit 2
fi

server=$(mktemp -d /tmp/rtcache-nats-bench.XXXXXX)
cleanup() { "$root/scripts/nats_server.sh" destroy "$server" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/nats_server.sh" start "$server" >/dev/null
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nats-server $(nats-server --version | sed 's/.*v//')"
"$bench_bin" --url "$(cat "$server/url")" "${args[@]}"
