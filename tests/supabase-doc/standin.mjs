// The stand-in for a Supabase project in docs/supabase.md's test: Supabase Auth's password grant, which runs
// the Custom Access Token hook the page defines as supabase_auth_admin (as Supabase Auth does) and signs the
// claims it returns with an ES256 key published at the project's JWKS URL; every other path answers a marker,
// standing for the rest of Supabase (the Data API, storage, ...), so a test can tell which upstream answered.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID, sign as cryptoSign } from 'node:crypto';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export class SupabaseStandIn {
  // psql(sql, vars) runs SQL as `postgres` and returns its unaligned output; the hook runs through it too,
  // after `set role supabase_auth_admin`.
  constructor({ psql }) {
    this.psql = psql;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.kid = `standin-${randomUUID().slice(0, 8)}`;
    this.jwk = { ...publicKey.export({ format: 'jwk' }), kid: this.kid, alg: 'ES256', use: 'sig', key_ops: ['verify'] };
    this.requests = []; // [{ method, path }] of everything that reached the stand-in
    this.tokenRequests = 0;
  }

  async listen() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => reply(res, 500, { error: String(e?.message ?? e) }));
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  close() {
    this.server?.closeAllConnections?.();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // Signs claims as the project's current JWT signing key does (ES256, the key's kid in the header).
  sign(claims) {
    const head = b64url({ alg: 'ES256', typ: 'JWT', kid: this.kid });
    const body = b64url(claims);
    const sig = cryptoSign('sha256', Buffer.from(`${head}.${body}`), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${sig.toString('base64url')}`;
  }

  // The event Supabase Auth hands a Custom Access Token hook for a password sign-in, with the claims it would
  // issue without a hook.
  event(user) {
    const iat = Math.floor(Date.now() / 1000);
    return {
      user_id: user.id,
      claims: {
        iss: `${this.url}/auth/v1`,
        aud: 'authenticated',
        exp: iat + 3600,
        iat,
        sub: user.id,
        email: user.email,
        phone: '',
        app_metadata: { provider: 'email', providers: ['email'] },
        user_metadata: {},
        role: 'authenticated',
        aal: 'aal1',
        amr: [{ method: 'password', timestamp: iat }],
        session_id: randomUUID(),
        is_anonymous: false,
      },
      authentication_method: 'password',
    };
  }

  // The hook as Supabase Auth calls it: as supabase_auth_admin, one jsonb in, one out.
  runHook(event) {
    const out = this.psql('set role supabase_auth_admin;\nselect public.custom_access_token_hook(:\'event\'::jsonb);\n', {
      event: JSON.stringify(event),
    });
    return JSON.parse(out.trim());
  }

  async handle(req, res) {
    const url = new URL(req.url, this.url);
    this.requests.push({ method: req.method, path: url.pathname });
    const body = await readBody(req);
    if (req.method === 'GET' && url.pathname === '/auth/v1/.well-known/jwks.json') {
      return reply(res, 200, { keys: [this.jwk] });
    }
    if (req.method === 'POST' && url.pathname === '/auth/v1/token' && url.searchParams.get('grant_type') === 'password') {
      this.tokenRequests += 1;
      const { email } = JSON.parse(body || '{}');
      const id = this.psql('select id from auth.users where email = :\'email\';\n', { email: String(email ?? '') }).trim();
      if (!id) return reply(res, 400, { code: 400, error_code: 'invalid_credentials', msg: 'Invalid login credentials' });
      const user = { id, email };
      const result = this.runHook(this.event(user));
      if (result.error) return reply(res, result.error.http_code ?? 500, { msg: result.error.message });
      const claims = result.claims;
      return reply(res, 200, {
        access_token: this.sign(claims),
        token_type: 'bearer',
        expires_in: claims.exp - claims.iat,
        expires_at: claims.exp,
        refresh_token: randomUUID(),
        user: {
          id,
          aud: 'authenticated',
          role: 'authenticated',
          email,
          app_metadata: claims.app_metadata,
          user_metadata: {},
          created_at: new Date().toISOString(),
        },
      });
    }
    return reply(res, 200, { upstream: 'supabase', method: req.method, path: url.pathname });
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res, status, json) {
  const text = JSON.stringify(json);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
