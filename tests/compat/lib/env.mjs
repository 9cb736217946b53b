// Where the server under test is and how to reach it. scripts/compat.sh exports these; a developer running
// `npx vitest` by hand against a server they started exports the same five.
export const BASE_URL = required('RTCACHE_URL'); // http://127.0.0.1:PORT
export const JWT_SECRET = required('RTCACHE_JWT_SECRET');
// The server's Supabase API keys (scripts/lib/server.sh generates one of each): publishable -> anon, secret ->
// service_role.
export const PUBLISHABLE_KEY = required('RTCACHE_PUBLISHABLE_KEYS').split(',')[0];
export const SECRET_KEY = required('RTCACHE_SECRET_KEYS').split(',')[0];
// The running server's pid file and how to start it again (the restart test uses them).
export const PID_FILE = process.env.RTCACHE_PID_FILE ?? '';
export const BIN = process.env.RTCACHE_BIN ?? '';
export const LISTEN = process.env.RTCACHE_LISTEN ?? '';
export const SERVER_LOG = process.env.RTCACHE_SERVER_LOG ?? '/dev/null';

export const WS_URL = BASE_URL.replace(/^http/, 'ws');
export const VSNS = ['1.0.0', '2.0.0'];

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/compat through scripts/compat.sh`);
  return v;
}
