// HS256 tokens signed with node:crypto, as a Supabase project (or a backend) would sign them.
import { createHmac, randomUUID } from 'node:crypto';
import { JWT_SECRET } from './env.mjs';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function sign(claims, secret = JWT_SECRET) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

// A signed-in user scoped to `factories` (the default claim path app_metadata.factory_ids); `teams`, when
// given, goes to app_metadata.teams (the private-channel rule of tests/compat/relay.toml reads it).
export function userToken({ factories = ['f1'], ttl = 3600, sub = randomUUID(), teams } = {}) {
  const iat = now();
  return sign({
    sub,
    role: 'authenticated',
    aud: 'authenticated',
    iat,
    exp: iat + ttl,
    app_metadata: teams ? { factory_ids: factories, teams } : { factory_ids: factories },
  });
}

// The backend's key: unscoped, may POST events and REST broadcasts.
export function serviceToken({ ttl = 3600 } = {}) {
  const iat = now();
  return sign({ role: 'service_role', iss: 'rtcache-compat', iat, exp: iat + ttl });
}

// Expired an hour ago: beyond any clock-skew leeway (rtcache's is at most 300 s).
export function expiredUserToken({ factories = ['f1'] } = {}) {
  const iat = now() - 7200;
  return sign({
    sub: randomUUID(),
    role: 'authenticated',
    aud: 'authenticated',
    iat,
    exp: iat + 3600,
    app_metadata: { factory_ids: factories },
  });
}
