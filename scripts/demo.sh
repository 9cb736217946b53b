#!/usr/bin/env bash
# The main job, relay mode: builds rtcache, starts `rtcache serve` (no database), and simulates factory
# activity by POSTing contract events, so any Supabase Realtime client can watch invalidations arrive.
# Ctrl-C stops everything. A second run reuses the build and the generated secret.
#   RTCACHE_PORT=4000 scripts/demo.sh          # port (default 4000)
#   DEMO_RATE=5 scripts/demo.sh                # simulated events per second (default 2; 0 = none)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
port=${RTCACHE_PORT:-4000}
rate=${DEMO_RATE:-2}
state="$root/var/demo"
mkdir -p "$state"

echo "demo: building rtcache (release)"
if ! { cmake --preset release && cmake --build --preset release -j"$(nproc)" --target rtcache; } >"$state/build.log" 2>&1; then
  tail -n 40 "$state/build.log"
  echo "demo: build failed; full log: $state/build.log" >&2
  exit 1
fi
bin="$root/build/release/src/main/rtcache"

[ -s "$state/jwt_secret" ] || openssl rand -hex 32 >"$state/jwt_secret"
secret=$(cat "$state/jwt_secret")

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# sign_jwt CLAIMS_JSON: an HS256 token signed with the demo secret.
sign_jwt() {
  local header payload sig
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '%s' "$1" | b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}
exp=$(($(date +%s) + 7 * 24 * 3600))
service_token=$(sign_jwt "{\"role\":\"service_role\",\"exp\":$exp}")
f1_token=$(sign_jwt "{\"role\":\"authenticated\",\"sub\":\"demo-user\",\"exp\":$exp,\"app_metadata\":{\"factory_ids\":[\"f1\"]}}")

RTCACHE_JWT_SECRET="$secret" "$bin" serve --listen "127.0.0.1:$port" &
server=$!
activity=""
cleanup() {
  [ -n "$activity" ] && kill "$activity" 2>/dev/null || true
  kill -INT "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null

cat <<INFO

rtcache is running in relay mode.
  WebSocket (Supabase Realtime protocol): ws://127.0.0.1:$port/realtime/v1/websocket?apikey=<token>&vsn=2.0.0
  Post events:  curl -H "Authorization: Bearer \$SERVICE_TOKEN" -d '{"type":"wo","id":"123","factoryId":"f1","action":"update","version":2}' http://127.0.0.1:$port/v1/events
  Metrics:      http://127.0.0.1:$port/metrics
  SERVICE_TOKEN (service_role):   $service_token
  USER_TOKEN (factory f1 only):   $f1_token
  supabase-js:  createClient('http://127.0.0.1:$port', USER_TOKEN).channel('doc:wo:123').on('broadcast', {event: 'invalidate'}, console.log).subscribe()
Simulated activity: $rate events/s over factories f1..f3. Ctrl-C stops.

INFO

if [ "$rate" != "0" ]; then
  (
    types=(wo pl dn grn lot pu invoice price_list)
    actions=(update update update update approve create delete)
    version=1
    while kill -0 "$server" 2>/dev/null; do
      version=$((version + 1))
      t=${types[$((RANDOM % ${#types[@]}))]}
      a=${actions[$((RANDOM % ${#actions[@]}))]}
      body="{\"type\":\"$t\",\"id\":\"$((RANDOM % 20 + 100))\",\"factoryId\":\"f$((RANDOM % 3 + 1))\",\"action\":\"$a\",\"version\":$version,\"changedKeys\":[\"status\"],\"patch\":{\"status\":\"s$version\"}}"
      curl -fsS -o /dev/null -H "Authorization: Bearer $service_token" -H 'Content-Type: application/json' \
        -d "$body" "http://127.0.0.1:$port/v1/events" || echo "demo: activity post failed" >&2
      sleep "$(awk "BEGIN{print 1/$rate}")"
    done
  ) &
  activity=$!
fi
wait "$server"
