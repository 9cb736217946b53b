#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset) and runs each for FUZZ_SECONDS (default 20) on a scratch
# copy of its seed corpus; the repo's corpus is never written. Exits non-zero if any target fails.
#   scripts/fuzz.sh                     # the quick run CI and developers use
#   FUZZ_SECONDS=600 scripts/fuzz.sh    # a longer run
#   FUZZ_RUNS=10000000 FUZZ_SECONDS=7200 FUZZ_JOBS=1 scripts/fuzz.sh
#                                       # the long run (docs/benchmarks.md): each target stops after FUZZ_RUNS
#                                       # executions, or FUZZ_SECONDS, whichever comes first; one at a time
#   FUZZ_TARGETS="jwt jwks" scripts/fuzz.sh   # some targets only
#   FUZZ_FORK=1 FUZZ_TARGETS=pgoutput FUZZ_RUNS=10000000 FUZZ_SECONDS=7200 FUZZ_TIMEOUT=60 scripts/fuzz.sh
#                                       # libFuzzer's fork mode: FUZZ_FORK worker processes, restarted every
#                                       # few seconds, one corpus; FUZZ_RUNS counts executions over all of them
# FUZZ_TIMEOUT (default 10 s) is libFuzzer's per-input limit; it is wall-clock time, so a long run on a busy
# machine wants more (a run at nice 19 under two compiles once stalled 15 s inside ASan's allocator).
# FUZZ_JOBS targets run at once (default: all), sharing the cores. Fuzzer output goes to a log; on failure the
# log's tail, the crashing input (hex) and the reproducer command are printed and the scratch directory is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-20}"
runs="${FUZZ_RUNS:-0}"
timeout="${FUZZ_TIMEOUT:-10}"
fork="${FUZZ_FORK:-0}"
read -r -a targets <<<"${FUZZ_TARGETS:-channel_key event_codec pgoutput protocol jwt jwks}"
jobs="${FUZZ_JOBS:-${#targets[@]}}"
cd "$root"

for v in FUZZ_SECONDS:"$seconds" FUZZ_JOBS:"$jobs" FUZZ_TIMEOUT:"$timeout"; do
  if ! [[ "${v#*:}" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: ${v%%:*} must be a positive integer, got '${v#*:}'" >&2
    exit 2
  fi
done
if ! [[ "$fork" =~ ^[0-9]+$ ]]; then
  echo "fuzz: FUZZ_FORK must be a non-negative integer (0: fuzz in one process), got '$fork'" >&2
  exit 2
fi
if ! [[ "$runs" =~ ^[0-9]+$ ]]; then
  echo "fuzz: FUZZ_RUNS must be a non-negative integer (0: no bound), got '$runs'" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  if ! [[ -d "fuzz/corpus/$t" ]]; then
    echo "fuzz: unknown target '$t' (FUZZ_TARGETS); the targets are the folders of fuzz/corpus" >&2
    exit 2
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/rtcache-fuzz.XXXXXX")"

# Only the targets that run are built: the rest of the tree is the asan/tsan presets' business, and a
# clang-only compile error elsewhere must not stop the fuzzers.
build_log="$work/build.log"
if ! { cmake --preset fuzz && cmake --build --preset fuzz -j2 --target "${targets[@]/%/_fuzz}"; } >"$build_log" 2>&1; then
  echo "fuzz: build failed (log: $build_log)" >&2
  tail -n 40 "$build_log" >&2
  exit 1
fi

declare -A pids
for t in "${targets[@]}"; do
  # At most FUZZ_JOBS fuzzers at once: wait for one to finish before starting the next.
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
  bin="build/fuzz/fuzz/${t}_fuzz"
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -- fuzz/corpus/"$t"/* "$work/$t/corpus/"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$timeout" -print_final_stats=1
        -artifact_prefix="$work/$t/artifacts/")
  if (( runs > 0 )); then args+=(-runs="$runs"); fi
  if (( fork > 0 )); then args+=(-fork="$fork"); fi
  if [[ -f "fuzz/$t.dict" ]]; then args+=(-dict="fuzz/$t.dict"); fi
  { start=$SECONDS; rc=0; "$bin" "${args[@]}" "$work/$t/corpus" >"$work/$t/fuzz.log" 2>&1 || rc=$?
    echo $((SECONDS - start)) >"$work/$t/seconds"; echo $rc >"$work/$t/rc"; } &
  pids[$t]=$!
done

failed=0
for t in "${targets[@]}"; do
  wait "${pids[$t]}" 2>/dev/null || true  # may already be reaped by `wait -n`; the status is in the rc file
  rc="$(cat "$work/$t/rc" 2>/dev/null || echo "?")"
  log="$work/$t/fuzz.log"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  # Fork mode prints no final stats: its last "#N:" line counts the executions of every worker.
  [[ -n "$execs" ]] || execs="$(sed -n 's/^#\([0-9]*\): .*/\1/p' "$log" | tail -n 1)"
  corpus="$(find "$work/$t/corpus" -type f | wc -l)"
  ran="$(cat "$work/$t/seconds" 2>/dev/null || echo "?")"
  if [[ "$rc" == 0 ]]; then
    printf 'fuzz: %-12s ok    %s executions in %ss, corpus %s inputs\n' "$t" "${execs:-?}" "$ran" "$corpus"
    continue
  fi
  failed=1
  printf 'fuzz: %-12s FAIL  exit %s after %s executions (log: %s)\n' "$t" "$rc" "${execs:-?}" "$log"
  tail -n 40 "$log" | sed 's/^/    /'
  for a in "$work/$t/artifacts"/*; do
    [[ -f "$a" ]] || continue
    echo "    input $a ($(stat -c %s "$a") bytes), hex: $(od -An -v -tx1 "$a" | tr -d ' \n' | head -c 2048)"
    echo "    reproduce: build/fuzz/fuzz/${t}_fuzz $a"
  done
done

if [[ $failed -eq 0 ]]; then
  rm -rf "$work"
else
  echo "fuzz: failures kept in $work" >&2
fi
exit "$failed"
