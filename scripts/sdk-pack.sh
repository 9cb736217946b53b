#!/usr/bin/env bash
# @rtcache/sdk as an npm user meets it (issue 15): `npm pack` in sdk/ts (its prepack builds dist/ afresh), the
# tarball's file list and package.json, then the tarball installed into scratch projects in a temporary
# directory:
#   node   tests/sdk-pack/node: a Node project without React, only the required peer (@tanstack/query-core);
#          tsc (nodenext, the shipped .d.ts checked) and a runtime smoke: '.' works, './react' needs react-query
#   app    tests/sdk-pack/app: a Vite 7 + React app using '@rtcache/sdk' and '@rtcache/sdk/react', its peers
#          pinned (package-lock.json, `npm ci`) at the LOWEST versions the SDK's peer ranges allow; tsc --noEmit
#          (strict), vite build, and a runtime smoke over the real realtime-js client
#   newest the same app with the NEWEST published peers matching the ranges (asked of the registry now): the
#          same three checks. Skipped, and said so, when the registry does not answer.
# The pinned parts install from npm's cache when it holds the locked versions (--prefer-offline). Does not
# need the C++ build. Ends with "sdk-pack: N passed, M failed[, K skipped]".
#   SDK_PACK_NEWEST=0   skip the newest-peers part
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sdk=$root/sdk/ts
fixtures=$root/tests/sdk-pack
work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-sdk-pack.XXXXXX")
trap 'if [ -n "${newest_pid:-}" ]; then kill "$newest_pid" 2>/dev/null; fi; rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
# check NAME COMMAND...: one counted check; its output is shown only when it fails. COMMAND runs in a subshell
# with errexit, so any failing step fails the check.
check() {
  local name=$1
  shift
  local out="$work/check.out" start=$SECONDS
  (
    set -e
    "$@"
  ) >"$out" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "FAIL $name ($((SECONDS - start)) s)"
    sed 's/^/     /' "$out" | tail -n 40
  fi
}
finish() {
  local line="sdk-pack: $passed passed, $failed failed"
  [ "$skipped" -eq 0 ] || line="$line, $skipped skipped"
  echo "$line"
  [ "$failed" -eq 0 ]
  exit
}
fail() {
  echo "$*" >&2
  return 1
}
npm_quiet=(--no-audit --no-fund --loglevel=error)

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "sdk-pack: node and npm are required (Node 20.19+)" >&2
  failed=1
  finish
}
echo "sdk-pack: node $(node --version), npm $(npm --version)"

# --- the tarball ------------------------------------------------------------------------------------------
# sdk/ts's own dependencies (TypeScript for the build), exactly as locked; shared with scripts/sdk-ts.sh.
sdk_deps() {
  local lock_sum stamp=$sdk/node_modules/.rtcache-lock.sha256
  lock_sum=$(sha256sum "$sdk/package-lock.json" | cut -d' ' -f1)
  if [ ! -d "$sdk/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    (cd "$sdk" && npm ci "${npm_quiet[@]}")
    echo "$lock_sum" >"$stamp"
  fi
}
pack() {
  sdk_deps
  (cd "$sdk" && npm pack --json --pack-destination "$work" >"$work/pack.json")
  local tgz
  tgz=$work/$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].filename' "$work/pack.json")
  [ -f "$tgz" ] || fail "no tarball in $work"
  mkdir -p "$work/unpacked" && tar -xzf "$tgz" -C "$work/unpacked"
  echo "$tgz: $(du -k "$tgz" | cut -f1) KiB"
}
check "npm pack in sdk/ts builds (prepack) and writes the tarball" pack
tgz=$(ls "$work"/*.tgz 2>/dev/null | head -n 1)
[ -f "$tgz" ] || finish
pkg=$work/unpacked/package

# What ships: both entry points with their declarations (and maps, and the sources the maps point at), the
# README and LICENSE; no tests, benchmarks, examples, build configuration or the test-only JSON text decoder;
# nothing in dist/ that src/ no longer has (prepack starts from an empty dist/).
files_shipped() {
  node - "$work/pack.json" "$pkg" <<'EOF'
const fs = require('fs');
const path = require('path');
const [packJson, dir] = process.argv.slice(2);
const files = JSON.parse(fs.readFileSync(packJson, 'utf8'))[0].files.map((f) => f.path).sort();
console.log(files.join('\n'));
const errors = [];
const has = (f) => files.includes(f);
for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/react.js', 'dist/react.d.ts'])
  if (!has(f)) errors.push(`missing ${f}`);
for (const f of files) {
  if (!/^(package\.json|README\.md|LICENSE|dist\/[a-z_]+\.(js|d\.ts|js\.map|d\.ts\.map)|src\/[a-z_]+\.ts)$/.test(f)) errors.push(`unexpected file ${f}`);
  if (/(^|\/)(test|tests|bench|examples)\/|\.test\.|text_decoder|tsconfig|vitest/.test(f)) errors.push(`test or build file shipped: ${f}`);
  const m = /^dist\/([a-z_]+)\.js$/.exec(f);
  if (m) {
    for (const twin of [`dist/${m[1]}.d.ts`, `dist/${m[1]}.js.map`, `dist/${m[1]}.d.ts.map`, `src/${m[1]}.ts`])
      if (!has(twin)) errors.push(`${f} without ${twin}`);
  }
  if (/\.map$/.test(f)) {
    const map = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    for (const s of map.sources) {
      const src = path.posix.join(path.posix.dirname(f), s);
      if (!has(src)) errors.push(`${f} points at ${src}, which is not shipped`);
    }
  }
}
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
EOF
}
check "the tarball ships dist/ (.js, .d.ts, maps) for both entry points, src/, README, LICENSE; no tests" files_shipped

# The manifest as published: ESM; an exports map whose every target is shipped, types first; peers with the
# optional ones marked; what npm needs to publish it.
manifest() {
  node - "$pkg" <<'EOF'
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
const errors = [];
const expect = (ok, what) => ok || errors.push(what);
expect(p.name === '@rtcache/sdk', `name ${p.name}`);
expect(p.type === 'module', 'type is not "module"');
expect(p.sideEffects === false, 'sideEffects is not false');
expect(/^>=\d+/.test(p.engines?.node ?? ''), 'no engines.node');
expect(p.license === 'MIT', `license ${p.license}`);
expect(p.repository?.directory === 'sdk/ts', 'repository.directory is not sdk/ts');
expect(Array.isArray(p.keywords) && p.keywords.length > 0, 'no keywords');
expect(/npm run build/.test(p.scripts?.prepack ?? ''), 'no prepack that builds');
expect(p.publishConfig?.access === 'public', 'a scoped package needs publishConfig.access public');
const entries = { '.': 'index', './react': 'react' };
expect(JSON.stringify(Object.keys(p.exports ?? {}).sort()) === JSON.stringify(['.', './package.json', './react']), `exports keys ${Object.keys(p.exports ?? {})}`);
for (const [sub, base] of Object.entries(entries)) {
  const e = p.exports?.[sub] ?? {};
  expect(Object.keys(e)[0] === 'types', `exports["${sub}"]: "types" must come first (${Object.keys(e)})`);
  expect(e.types === `./dist/${base}.d.ts`, `exports["${sub}"].types is ${e.types}`);
  expect(e.default === `./dist/${base}.js` || e.import === `./dist/${base}.js`, `exports["${sub}"] does not load ./dist/${base}.js`);
  for (const target of Object.values(e)) expect(fs.existsSync(path.join(dir, target)), `exports["${sub}"] -> ${target} is not shipped`);
}
expect(p.exports?.['./package.json'] === './package.json', 'exports has no ./package.json');
for (const f of [p.main, p.types]) expect(f && fs.existsSync(path.join(dir, f)), `main/types ${f} not shipped`);
const peers = p.peerDependencies ?? {};
const optional = Object.keys(p.peerDependenciesMeta ?? {}).filter((k) => p.peerDependenciesMeta[k].optional);
expect(JSON.stringify(Object.keys(peers).sort()) === JSON.stringify(['@supabase/realtime-js', '@supabase/supabase-js', '@tanstack/query-core', '@tanstack/react-query', 'react']), `peers ${Object.keys(peers)}`);
expect(JSON.stringify(optional.sort()) === JSON.stringify(['@supabase/realtime-js', '@supabase/supabase-js', '@tanstack/react-query', 'react']), `optional peers ${optional}`);
for (const [name, range] of Object.entries(peers)) expect(!/[*x]|>=\s*\d+\s*$|^\s*$/.test(range), `${name}: "${range}" has no upper bound`);
expect(!p.dependencies || Object.keys(p.dependencies).length === 0, 'runtime dependencies: everything is a peer');
console.log(JSON.stringify({ exports: p.exports, peerDependencies: peers, optional }, null, 2));
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
EOF
}
check "package.json: ESM, exports map (types first) for . and ./react, peers (optional marked), publish fields" manifest

# --- installs -----------------------------------------------------------------------------------------------
# install DIR FIXTURE: the fixture's locked dependencies (npm ci), then the tarball (npm checks its peer
# ranges against what is installed, and would add any required peer that is missing).
install() {
  local dir=$1 fixture=$2
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$fixture" && tar -cf - --exclude=node_modules --exclude=dist --exclude='*.tgz' .) | tar -xf - -C "$dir"
  (cd "$dir" && npm ci --prefer-offline "${npm_quiet[@]}")
  (cd "$dir" && npm install --no-save --prefer-offline "${npm_quiet[@]}" "$tgz")
  node -e 'const p=require(process.argv[1]);if(p.version!==process.argv[2])process.exit(1)' "$dir/node_modules/@rtcache/sdk/package.json" \
    "$(node -p 'require(process.argv[1]).version' "$pkg/package.json")" || fail "the installed @rtcache/sdk is not the packed one"
}
# tsconfig.json is the project's own; tsconfig.sdk.json, where present, checks the SDK's shipped declarations
# themselves (skipLibCheck off): with it on, as in Vite's template, a declaration that does not fit the peer
# version installed (a missing or reshaped type) degrades silently instead of failing.
typecheck() {
  (cd "$1" && ./node_modules/.bin/tsc --noEmit -p tsconfig.json)
  if [ -f "$1/tsconfig.sdk.json" ]; then (cd "$1" && ./node_modules/.bin/tsc --noEmit -p tsconfig.sdk.json); fi
}
vite_build() {
  (cd "$1" && ./node_modules/.bin/vite build)
  ls "$1"/dist/assets/*.js >/dev/null || fail "vite wrote no bundle"
  # The bundle holds the SDK (a message of the join gate's options) and the hooks' module.
  grep -q "realtimeQueryOptions: give" "$1"/dist/assets/*.js || fail "the bundle does not contain @rtcache/sdk"
  echo "bundle: $(du -k "$1"/dist/assets/*.js | cut -f1) KiB"
}
smoke() { (cd "$1" && node smoke.mjs); }

# --- the same app, the newest peers the ranges allow ----------------------------------------------------------
# Resolved and installed in the background while the pinned parts run (it waits on the network, they on the
# CPU); checked at the end.
newest_dir=$work/newest
newest_install() {
  rm -rf "$newest_dir" && mkdir -p "$newest_dir"
  (cd "$fixtures/app" && tar -cf - --exclude=node_modules --exclude=dist --exclude=package-lock.json --exclude='*.tgz' .) | tar -xf - -C "$newest_dir"
  node - "$pkg/package.json" "$newest_dir/package.json" "$tgz" <<'EOF'
const fs = require('fs');
const { execFileSync } = require('child_process');
const [sdkJson, appJson, tgz] = process.argv.slice(2);
const peers = JSON.parse(fs.readFileSync(sdkJson, 'utf8')).peerDependencies;
const app = JSON.parse(fs.readFileSync(appJson, 'utf8'));
// npm view lists the versions a range matches (releases only) in publish order, not by version.
const parts = (v) => v.split('.').map(Number);
const newer = (a, b) => {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
};
const newest = (spec) => {
  const out = JSON.parse(execFileSync('npm', ['view', spec, 'version', '--json', '--prefer-online'], { encoding: 'utf8', timeout: 60000 }));
  const all = (Array.isArray(out) ? out : [out]).filter((v) => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v));
  if (!all.length) throw new Error(`npm view ${spec}: no version`);
  return all.reduce((a, b) => (newer(b, a) ? b : a));
};
for (const [name, range] of Object.entries(peers)) app.dependencies[name] = newest(`${name}@${range}`);
const react = app.dependencies.react;
const major = react.split('.')[0];
app.dependencies['react-dom'] = react;
app.devDependencies['@types/react'] = newest(`@types/react@^${major}`);
app.devDependencies['@types/react-dom'] = newest(`@types/react-dom@^${major}`);
app.dependencies['@rtcache/sdk'] = `file:${tgz}`;
fs.writeFileSync(appJson, JSON.stringify(app, null, 2) + '\n');
console.log(Object.entries({ ...app.dependencies, ...app.devDependencies }).map(([k, v]) => `${k}@${v}`).join('\n'));
EOF
  (cd "$newest_dir" && npm install "${npm_quiet[@]}")
}
registry_error=""
if [ "${SDK_PACK_NEWEST:-1}" = 0 ]; then
  registry_error="SDK_PACK_NEWEST=0"
elif ! timeout 30 npm ping --fetch-retries=0 --fetch-timeout=15000 >"$work/ping.log" 2>&1; then
  registry_error="the registry ($(npm config get registry)) did not answer npm ping: $(grep -m1 -E 'npm error (code|network|request)' "$work/ping.log" || tail -n 1 "$work/ping.log")"
fi
newest_pid=""
if [ -z "$registry_error" ]; then
  (
    set -e
    newest_install
  ) >"$work/newest-install.log" 2>&1 &
  newest_pid=$!
fi

# --- a Node project without React ---------------------------------------------------------------------------
node_dir=$work/node
check "node: npm ci + the tarball, with no optional peer installed" install "$node_dir" "$fixtures/node"
check "node: tsc --noEmit (nodenext, skipLibCheck off, no React types) of the core API" typecheck "$node_dir"
check "node: import '@rtcache/sdk' works without React; './react' asks for @tanstack/react-query" smoke "$node_dir"

# --- the Vite app, peers pinned at the floor of the ranges ---------------------------------------------------
# Each peer the app pins is the lowest version the packed package.json's range allows (so the ranges are
# tested where they start), and npm installed exactly that.
floor_versions() {
  node - "$pkg/package.json" "$1/package.json" "$1" <<'EOF'
const fs = require('fs');
const path = require('path');
const [sdkJson, appJson, dir] = process.argv.slice(2);
const peers = JSON.parse(fs.readFileSync(sdkJson, 'utf8')).peerDependencies;
const app = JSON.parse(fs.readFileSync(appJson, 'utf8'));
const pinned = { ...app.dependencies, ...app.devDependencies };
const errors = [];
for (const [name, range] of Object.entries(peers)) {
  const lowest = /(\d+\.\d+\.\d+)/.exec(range)?.[1];
  const installed = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
  console.log(`${name}: range ${range}, pinned ${pinned[name]}, installed ${installed}`);
  if (pinned[name] !== lowest) errors.push(`${name}: the app pins ${pinned[name]}, the lowest of "${range}" is ${lowest}`);
  if (installed !== pinned[name]) errors.push(`${name}: installed ${installed}, pinned ${pinned[name]}`);
}
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
EOF
}
app_dir=$work/app
check "app (lowest peers): npm ci + the tarball" install "$app_dir" "$fixtures/app"
check "app (lowest peers): each pinned peer is the lowest its range allows, and installed" floor_versions "$app_dir"
check "app (lowest peers): tsc --noEmit, strict, of '@rtcache/sdk' + '@rtcache/sdk/react'" typecheck "$app_dir"
check "app (lowest peers): vite build" vite_build "$app_dir"
check "app (lowest peers): runtime smoke over realtime-js" smoke "$app_dir"

# --- the newest peers: the background install, then the same checks -----------------------------------------
if [ -n "$registry_error" ]; then
  skipped=$((skipped + 4))
  echo "skip app (newest peers): 4 checks skipped: $registry_error"
else
  newest_rc=0
  wait "$newest_pid" || newest_rc=$?
  newest_installed() {
    cat "$work/newest-install.log"
    return "$newest_rc"
  }
  check "app (newest peers): npm install of the newest versions the ranges allow + the tarball" newest_installed
  if [ "$newest_rc" -eq 0 ]; then
    echo "     newest: $(cd "$newest_dir" && node -p 'const d=require("./package.json").dependencies;Object.entries(d).filter(([k])=>k!=="@rtcache/sdk"&&k!=="react-dom").map(([k,v])=>k+"@"+v).join(" ")')"
    check "app (newest peers): tsc --noEmit, strict" typecheck "$newest_dir"
    check "app (newest peers): vite build" vite_build "$newest_dir"
    check "app (newest peers): runtime smoke over realtime-js" smoke "$newest_dir"
  else
    failed=$((failed + 3))
    echo "FAIL app (newest peers): not installed, 3 checks not run"
  fi
fi
finish
