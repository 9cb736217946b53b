// Supabase's asymmetric JWT signing keys (issue 11): tokens signed with a key that a JWKS publishes. The test
// serves the JWKS from a local HTTP server (plain http is accepted for loopback hosts only), starts a second
// rtcache pointed at it, and rotates: ES256 key A, then RS256 key B in place of A.
import { spawn } from 'node:child_process';
import { createSign, generateKeyPairSync, randomUUID, sign as cryptoSign } from 'node:crypto';
import { openSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, PUBLISHABLE_KEY, SECRET_KEY, SERVER_LOG, VSNS } from '../lib/env.mjs';
import { closeAll, collector, postEvents, subscribe, supabaseClient, tail, uniq, until, upgrade, woEvent } from '../lib/clients.mjs';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// A JWT as Supabase Auth signs it with an asymmetric key: ES256 as raw r||s (JOSE), RS256 PKCS#1 v1.5.
function signJwt(claims, { alg, kid, privateKey }) {
  const input = `${b64url({ alg, typ: 'JWT', kid })}.${b64url(claims)}`;
  const sig =
    alg === 'ES256'
      ? cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : createSign('RSA-SHA256').update(input).sign(privateKey);
  return `${input}.${sig.toString('base64url')}`;
}

function userJwt(key, { factories = ['f1'] } = {}) {
  const iat = Math.floor(Date.now() / 1000);
  return signJwt(
    { sub: randomUUID(), role: 'authenticated', aud: 'authenticated', iat, exp: iat + 600, app_metadata: { factory_ids: factories } },
    key,
  );
}

function makeKey(alg, kid) {
  const { publicKey, privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg, kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const keyA = makeKey('ES256', `a-${randomUUID()}`);
const keyB = makeKey('RS256', `b-${randomUUID()}`);
let served = { keys: [keyA.jwk] };
let jwksRequests = 0;
let jwksServer;
let rtcache;
let baseUrl;
let wsUrl;
let dir;

beforeAll(async () => {
  jwksServer = createServer((req, res) => {
    jwksRequests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(served));
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/auth/v1/.well-known/jwks.json`;

  dir = mkdtempSync(join(tmpdir(), 'rtcache-compat-jwks-'));
  const config = join(dir, 'rtcache.toml');
  // jwks_min_refetch_s = 1: an unknown kid may refetch once a second (the default, 30, keeps tests waiting).
  writeFileSync(config, `[auth]\njwks_url = "${jwksUrl}"\njwks_refresh_s = 600\njwks_min_refetch_s = 1\n`);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}`;
  const log = openSync(SERVER_LOG, 'a');
  // The relay server's environment (JWT secret, API keys) with its own address.
  rtcache = spawn(BIN, ['serve', '-c', config], {
    env: { ...process.env, RTCACHE_LISTEN: `127.0.0.1:${port}` },
    stdio: ['ignore', log, log],
  });
  process.on('exit', () => rtcache?.kill('SIGKILL'));
  await until(async () => (await fetch(`${baseUrl}/readyz`).catch(() => null))?.ok, 10000, 'second rtcache ready');
  // The first fetch runs in the background: token A is accepted once it is in.
  await until(async () => (await upgrade(`apikey=${userJwt(keyA)}&vsn=2.0.0`, { wsUrl })).status === 101, 10000, 'JWKS loaded');
});

afterAll(async () => {
  await closeAll();
  rtcache?.kill('SIGTERM');
  await new Promise((r) => (rtcache?.exitCode !== null ? r() : rtcache.once('exit', r)));
  await new Promise((r) => jwksServer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('tokens signed with a key published in a JWKS', () => {
  test.each(VSNS)('vsn %s: publishable key + setAuth(ES256 user token): joins its factory and receives its events', async (vsn) => {
    const c = supabaseClient({ vsn, token: PUBLISHABLE_KEY, url: baseUrl });
    await c.realtime.setAuth(userJwt(keyA));
    const got = collector('invalidate');
    const ch = c.client.channel('list:wo:f1').on('broadcast', { event: 'invalidate' }, (m) => got.push(m));
    expect((await subscribe(ch)).status, tail(c)).toBe('SUBSCRIBED');
    expect((await subscribe(c.client.channel('list:wo:f2'))).status, tail(c)).toBe('CHANNEL_ERROR');
    const id = uniq('jwks');
    expect((await postEvents([woEvent({ id, factoryId: 'f1' })], { token: SECRET_KEY, baseUrl })).status).toBe(202);
    const [m] = await got.waitFor(1);
    expect(m.payload).toMatchObject({ id, factoryId: 'f1' });
  });

  test('a token signed with a key the JWKS does not publish is refused', async () => {
    const stranger = makeKey('ES256', keyA.kid); // the published kid, another key
    const r = await upgrade(`apikey=${userJwt(stranger)}&vsn=2.0.0`, { wsUrl });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toEqual({ error: 'Failed to validate JWT signature' });
  });

  test('rotation: key B replaces A without a restart; A is refused once removed; unknown kids are rate limited', async () => {
    served = { keys: [keyB.jwk] };
    // B's kid is unknown until a refetch: the first of its tokens to arrive jwks_min_refetch_s (1 s) after the last
    // fetch starts one. Then B passes and A, now removed, does not.
    await until(async () => (await upgrade(`apikey=${userJwt(keyB)}&vsn=2.0.0`, { wsUrl })).status === 101, 10000, 'key B accepted');
    const refusedA = await upgrade(`apikey=${userJwt(keyA)}&vsn=2.0.0`, { wsUrl });
    expect(refusedA.status).toBe(401);

    const c = supabaseClient({ vsn: '2.0.0', token: PUBLISHABLE_KEY, url: baseUrl });
    await c.realtime.setAuth(userJwt(keyB));
    expect((await subscribe(c.client.channel('list:wo:f1'))).status, tail(c)).toBe('SUBSCRIBED');

    // 40 tokens naming kids nobody published, within well under a second: at most one more fetch.
    const before = jwksRequests;
    const forged = await Promise.all(
      Array.from({ length: 40 }, (_, i) => upgrade(`apikey=${userJwt({ ...keyB, kid: `forged-${i}` })}&vsn=2.0.0`, { wsUrl })),
    );
    expect(forged.every((r) => r.status === 401)).toBe(true);
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });
});
