# shellcheck shell=bash disable=SC2154,SC2034,SC2016  # the caller sets bin, pid_file, server_log and reads server_error
# Sourced by scripts/compat.sh and scripts/compat-pg.sh: runs one `rtcache serve` for a test phase (a free
# port, a fresh JWT secret, started in the background, waited for, stopped) and reads vitest's counts.
# The caller sets, before the first call:
#   bin        the server binary
#   pid_file   where the server's pid is kept (the tests read it to kill and restart the server)
#   server_log where the server's output is appended

# Picks a free port, a fresh HS256 secret and a fresh pair of Supabase API keys, and exports what the tests
# read: RTCACHE_LISTEN, RTCACHE_URL, RTCACHE_JWT_SECRET, RTCACHE_PUBLISHABLE_KEYS, RTCACHE_SECRET_KEYS (one key
# each, shaped as Supabase issues them), RTCACHE_BIN, RTCACHE_PID_FILE, RTCACHE_SERVER_LOG.
server_env() {
  local port
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  export RTCACHE_LISTEN=127.0.0.1:$port
  export RTCACHE_URL=http://127.0.0.1:$port
  RTCACHE_JWT_SECRET=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
  export RTCACHE_JWT_SECRET
  # sb_<kind>_ + 22 random base64url characters + "_" + 8 more, as Supabase's keys look.
  local key='const r=(n)=>require("crypto").randomBytes(n).toString("base64url");console.log(`sb_${process.argv[1]}_${r(16)}_${r(6)}`)'
  RTCACHE_PUBLISHABLE_KEYS=$(node -e "$key" publishable)
  RTCACHE_SECRET_KEYS=$(node -e "$key" secret)
  export RTCACHE_PUBLISHABLE_KEYS RTCACHE_SECRET_KEYS
  export RTCACHE_BIN=$bin RTCACHE_PID_FILE=$pid_file RTCACHE_SERVER_LOG=$server_log
}

# server_start ARGS...: "$bin" ARGS... in the background, pid in $pid_file. Disowned: a test that kills it
# with SIGKILL leaves no "Killed" job notice.
server_start() {
  "$bin" "$@" >>"$server_log" 2>&1 &
  echo $! >"$pid_file"
  disown
}

# server_wait_ready SECONDS WHAT [CHECK...]: waits until /readyz answers and, if given, the command CHECK...
# succeeds. Returns 1 when the server exits or SECONDS pass first, with the server log's last 40 lines
# printed and the reason in $server_error ("... was not WHAT within SECONDS s").
server_wait_ready() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  server_error=
  until curl -fsS -o /dev/null --max-time 1 "$RTCACHE_URL/readyz" 2>/dev/null && { [ $# -eq 0 ] || "$@"; }; do
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      tail -n 40 "$server_log"
      server_error="the server exited before it was ready"
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 40 "$server_log"
      server_error="the server was not $what within $seconds s"
      return 1
    fi
    sleep 0.1
  done
}

# server_alive PID: the process runs (a zombie does not: a server started by a script that has since exited is
# reaped by whoever adopted it, in its own time).
server_alive() {
  local state
  state=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Stops the server in $pid_file if it runs: SIGTERM, up to 5 s to exit, then SIGKILL.
server_stop() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [ -n "$pid" ] && server_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do server_alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# vitest_counts JSON_REPORT RC: prints "passed failed skipped" from vitest's JSON reporter output. An
# unreadable report counts as one failure, and so does a non-zero vitest exit RC that no test accounts for
# (a suite that failed to load).
vitest_counts() {
  local passed failed skipped
  read -r passed failed skipped < <(node -e '
    const fs = require("fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      console.log(`${r.numPassedTests} ${r.numFailedTests + (r.numTotalTestSuites && !r.success && r.numFailedTests === 0 ? 1 : 0)} ${r.numPendingTests + r.numTodoTests}`);
    } catch { console.log("0 1 0"); }' "$1")
  if [ "$2" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$passed $failed $skipped"
}
