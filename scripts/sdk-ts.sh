#!/usr/bin/env bash
# The TypeScript SDK (sdk/ts): install exactly as locked (npm ci, only when node_modules is missing or older
# than package-lock.json), build with tsc, typecheck the tests, run every vitest suite: the conformance
# vectors (spec/vectors), the playbook unit cases, the React hooks, and integration against a real
# `rtcache serve` that the suite starts itself.
#   RTCACHE_BIN   the server binary (default build/release/src/main/rtcache)
# Extra arguments go to vitest (e.g. a file filter). Ends with "sdk-ts: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sdk=$root/sdk/ts

bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
export RTCACHE_BIN=$bin
if [ ! -x "$bin" ]; then
  echo "sdk-ts: no server binary at $bin: the integration tests will fail (build it, or set RTCACHE_BIN)" >&2
fi
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "sdk-ts: node and npm are required (Node 20+)" >&2
  echo "sdk-ts: 0 passed, 1 failed"
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-sdk-ts.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail_early() {
  echo "sdk-ts: $1" >&2
  [ -f "$2" ] && tail -n 40 "$2" >&2
  echo "sdk-ts: 0 passed, 1 failed"
  exit 1
}

# Dependencies, exactly as locked; skipped when node_modules was installed from this very lock file.
lock_sum=$(sha256sum "$sdk/package-lock.json" | cut -d' ' -f1)
stamp=$sdk/node_modules/.rtcache-lock.sha256
if [ ! -d "$sdk/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) || fail_early "npm ci failed" "$work/npm.log"
  echo "$lock_sum" >"$stamp"
fi

(cd "$sdk" && npx --no-install tsc -p tsconfig.build.json >"$work/build.log" 2>&1) || fail_early "build (tsc) failed" "$work/build.log"
(cd "$sdk" && npx --no-install tsc -p tsconfig.json --noEmit >"$work/typecheck.log" 2>&1) || fail_early "typecheck failed" "$work/typecheck.log"
echo "sdk-ts: built sdk/ts/dist"

rc=0
(cd "$sdk" && npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$work/results.json" "$@") || rc=$?

counts=$(node -e '
  const fs = require("fs");
  try {
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const suiteFailed = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.every((a) => a.status !== "failed")).length;
    console.log(`${r.numPassedTests} ${r.numFailedTests + suiteFailed} ${r.numPendingTests + r.numTodoTests}`);
  } catch { console.log("0 1 0"); }' "$work/results.json")
read -r passed failed skipped <<<"$counts"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$skipped" -ne 0 ]; then echo "sdk-ts: $skipped skipped"; fi
echo "sdk-ts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
