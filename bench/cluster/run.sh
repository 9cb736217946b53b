#!/usr/bin/env bash
# The NATS layer's benchmark: starts a disposable nats-server with JetStream (scripts/nats_server.sh, file store
# under /tmp), runs rtcache_nats_bench against it and removes the server. Prints one `name value unit` line per
# figure, preceded by the machine's load. Figures and what they mean: docs/cluster.md.
#
#   bench/cluster/run.sh [--quick]
#
# RTCACHE_NATS_BENCH_BIN  the program (default build/release/bench/cluster/rtcache_nats_bench)
# --quick                 seconds, not minutes: the smoke run
# Exit status: non-zero only when the harness fails, never because of a figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin=${RTCACHE_NATS_BENCH_BIN:-$root/build/release/bench/cluster/rtcache_nats_bench}
args=()
for a in "$@"; do
  case "$a" in
    --quick) args+=(--quick) ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
  esac
done
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
