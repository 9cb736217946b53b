#!/usr/bin/env bash
# Builds and runs every rtcache test suite: unit, conformance and gateway integration tests (release), the
# Debian package and the C++ SDK's CMake package, the supabase-js compatibility suite against the release
# binary, the TypeScript SDK, the browser suite, the snippets of docs/supabase.md, everything again under
# ASan+UBSan (socket-level test harnesses: ASan) compiled by clang-14, whose thread-safety analysis checks the lock
# rules on the way, the threaded components under TSan, bounded fuzz runs, and a benchmark smoke run. Ends with
# one line of totals.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh --test

jobs=$(nproc)
logs="$root/build/logs"
mkdir -p "$logs"
passed=0
failed=0

# step NAME COMMAND...: runs quietly into a log; on failure shows its tail and stops.
step() {
  local name=$1
  shift
  local log="$logs/$name.log"
  local start=$SECONDS
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "test: step '$name' failed ($(($SECONDS - start)) s); full log: $log" >&2
    echo "rtcache: $passed passed, $((failed + 1)) failed"
    exit 1
  fi
  echo "test: $name ok ($(($SECONDS - start)) s)"
}

# suite NAME PRESET [CTEST ARGS...]: runs ctest for a configured preset and adds its counts to the totals; the
# line it prints and its log are named NAME. In a preset with RTCACHE_CTEST_PER_BINARY (asan) a CTest case is a
# whole GoogleTest binary: its TESTs are counted from the binary's JSON report (scripts/gtest-totals.py).
suite() {
  local name=$1 preset=$2
  shift 2
  local log="$logs/ctest-$name.log"
  local reports="$root/build/$preset/gtest"
  local rc=0
  rm -rf "$reports"
  ctest --preset "$preset" -j"$jobs" --timeout 300 "$@" >"$log" 2>&1 || rc=$?
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1 || true)
  if [ -z "$line" ]; then
    tail -n 40 "$log"
    echo "test: ctest ($name) printed no totals" >&2
    exit 1
  fi
  local total fails
  if [ -d "$reports" ]; then
    local counts ok
    counts=$(scripts/gtest-totals.py "$log" "$reports")
    read -r ok fails <<<"$(head -n 1 <<<"$counts")"  # the script prints "PASSED FAILED"
    total=$((ok + fails))
    line="$ok of $total tests passed, $fails failed (GoogleTest binaries counted by TEST; ctest: $line)"
  else
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    fails=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  fi
  passed=$((passed + total - fails))
  failed=$((failed + fails))
  echo "test: ctest ($name): $line"
  if [ "$rc" -ne 0 ]; then
    if [ -d "$reports" ]; then tail -n +2 <<<"$counts" | head -n 40; fi
    grep -E "^\s+[0-9]+ - " "$log" | head -n 40 || true
    echo "test: failures above; full log: $log" >&2
  fi
}

# Comments and docs cite only files of this repository (docs/design.md, docs/contributing.md, ...).
step doc-refs scripts/check-doc-refs.sh
step configure-release cmake --preset release
step build-release cmake --build --preset release -j"$jobs"
suite release release -LE '^rtcache_adversarial_tests$'
# The adversarial suite (tests/adversarial: what a hostile tenant tries) on its own line, in the totals too.
suite adversarial release -L '^rtcache_adversarial_tests$'
adv_line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$logs/ctest-adversarial.log" | tail -n 1)
adv_total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$adv_line")
adv_failed=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$adv_line")
echo "test: adversarial: $((adv_total - adv_failed)) passed, $adv_failed failed"

# npm_suite NAME SCRIPT: runs a script that ends with "NAME: N passed, M failed" and adds its counts.
npm_suite() {
  local name=$1 script=$2
  local log="$logs/$name.log"
  local rc=0 start=$SECONDS
  RTCACHE_BIN="$root/build/release/src/main/rtcache" "$script" >"$log" 2>&1 || rc=$?
  local line
  line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1 || true)
  if [ -z "$line" ]; then
    tail -n 40 "$log"
    echo "test: $name printed no totals; full log: $log" >&2
    failed=$((failed + 1))
    return
  fi
  echo "test: $line ($(($SECONDS - start)) s)"
  local fails
  fails=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  passed=$((passed + $(sed -E "s/$name: ([0-9]+) passed.*/\1/" <<<"$line")))
  failed=$((failed + fails))
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    # A script that failed without counting a failed test still fails the run.
    if [ "$fails" -eq 0 ]; then failed=$((failed + 1)); fi
  fi
}

# The Debian package (built from the release build, unpacked into a scratch root, its binary, config, unit and
# man page checked) and the C++ SDK installed into a scratch prefix and consumed with find_package(rtcache).
npm_suite package scripts/package-test.sh
# The real @supabase/supabase-js and realtime-js against the release binary.
npm_suite compat scripts/compat.sh
# The TypeScript SDK: conformance vectors, playbook cases, React hooks, integration against the release binary.
npm_suite sdk-ts scripts/sdk-ts.sh
# @rtcache/sdk packed (npm pack) and installed into scratch projects: Node without React, a Vite app with the
# lowest and the newest peers its ranges allow (the newest part is skipped when the registry does not answer).
npm_suite sdk-pack scripts/sdk-pack.sh
# The factory demo in headless Chromium on the real stack: PostgreSQL, rtcache with the source, API, web app.
npm_suite e2e scripts/e2e.sh
# docs/supabase.md's snippets, extracted as written, against a stand-in Supabase project: SQL, hook, config, the
# SDK through a second client and through nginx.
npm_suite supabase-doc scripts/supabase-doc-test.sh

# The sanitizer presets compile with clang-14 (half GCC's compile time there, docs/benchmarks.md "Test-command
# time"), with -Wthread-safety -Werror: the ASan build also checks the lock rules (rtcache/sync/thread_annotations.hpp)
# of every library and test it compiles, which the tsa preset checks on its own when nothing else is built.
step configure-asan cmake --preset asan
# Only the test binaries (and what they run): the server, examples and tools are built and tested in release.
step build-asan cmake --build --preset asan -j"$jobs" --target rtcache_tests
suite asan asan

# ThreadSanitizer only for the components that run on several threads.
tsan_targets=(rtcache_hub_tests)
if [ -f src/server/ingest/CMakeLists.txt ]; then tsan_targets+=(rtcache_ingest_tests); fi
if [ -f src/server/gateway/CMakeLists.txt ]; then tsan_targets+=(rtcache_gateway_tests); fi
if [ -f src/pg/CMakeLists.txt ]; then tsan_targets+=(rtcache_pg_source_tests); fi
if [ -f src/client/CMakeLists.txt ]; then tsan_targets+=(rtcache_client_integration_tests); fi
# The cluster: the applier's thread, the cluster node's, the WAL reader's and nats.c's own, against the harness's
# nats-server (and PostgreSQL).
if [ -f src/server/cluster/CMakeLists.txt ]; then tsan_targets+=(rtcache_cluster_tests rtcache_cluster_node_tests rtcache_cluster_reader_tests); fi
step configure-tsan cmake --preset tsan
# With the server itself: CheckConfig.ClusterSectionReachesNats (a cluster test) runs `rtcache serve`.
step build-tsan cmake --build --preset tsan -j"$jobs" --target "${tsan_targets[@]}" rtcache
suite tsan tsan -L "^($(IFS='|'; echo "${tsan_targets[*]}"))\$"

step fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh
cat "$logs/fuzz.log" | grep -E "^fuzz:" || true

step bench-smoke build/release/bench/rtcache_core_bench --benchmark_min_time=0.01
step bench-load-smoke bench/load/run.sh --quick
step bench-wal-smoke bench/wal/run.sh --quick
step bench-cluster-smoke bench/cluster/run.sh --quick
step bench-cost-smoke bash -c 'cd sdk/ts && npm run -s bench:cost -- --quick'

echo "rtcache: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
