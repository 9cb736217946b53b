// A real `rtcache serve` for the integration suite: started on a free port with a generated HS256 secret,
// stopped by the caller. Tokens are signed with node:crypto, as a Supabase project (or a backend) signs them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const sdkRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** RTCACHE_BIN, or ../../build/release/src/main/rtcache relative to sdk/ts. */
export function serverBinary(): string {
  const bin = process.env.RTCACHE_BIN ?? '../../build/release/src/main/rtcache';
  return resolve(sdkRoot, bin);
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string | (() => string), stepMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`);
}

export interface ServerHandle {
  url: string; // http://127.0.0.1:PORT
  listen: string;
  secret: string;
  pid(): number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts a server; `start()` after `stop()` brings it back on the same address (a restart). */
export async function startServer(opts: { bin?: string; secret?: string; port?: number; log?: string } = {}): Promise<ServerHandle> {
  const bin = opts.bin ?? serverBinary();
  if (!existsSync(bin)) throw new Error(`no rtcache binary at ${bin} (build it, or set RTCACHE_BIN)`);
  const secret = opts.secret ?? randomBytes(32).toString('hex');
  const port = opts.port ?? (await freePort());
  const listen = `127.0.0.1:${port}`;
  const url = `http://${listen}`;
  let child: ChildProcess | undefined;
  const handle: ServerHandle = {
    url,
    listen,
    secret,
    pid: () => child?.pid,
    async start() {
      const out = opts.log ? openSync(opts.log, 'a') : 'ignore';
      child = spawn(bin, ['serve'], {
        env: { ...process.env, RTCACHE_JWT_SECRET: secret, RTCACHE_LISTEN: listen, RTCACHE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', out, out],
      });
      const c = child;
      let exited = false;
      c.once('exit', () => (exited = true));
      await until(
        async () => {
          if (exited) throw new Error(`rtcache serve exited with ${c.exitCode} before it was ready`);
          try {
            return (await fetch(`${url}/readyz`)).ok;
          } catch {
            return false;
          }
        },
        20000,
        `rtcache serve ready on ${listen}`,
        50,
      );
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
  await handle.start();
  return handle;
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function sign(claims: Record<string, unknown>, secret: string): string {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const nowS = () => Math.floor(Date.now() / 1000);

/** A signed-in user scoped to `factories` (claim app_metadata.factory_ids). */
export function userToken(secret: string, factories: string[] = ['f1'], ttl = 3600): string {
  const iat = nowS();
  return sign({ sub: randomUUID(), role: 'authenticated', aud: 'authenticated', iat, exp: iat + ttl, app_metadata: { factory_ids: factories } }, secret);
}

/** The backend's key: unscoped, may POST events. */
export function serviceToken(secret: string, ttl = 3600): string {
  const iat = nowS();
  return sign({ role: 'service_role', iss: 'rtcache-sdk-ts', iat, exp: iat + ttl }, secret);
}

/** POST /v1/events with a service_role token, as a backend does. */
export async function postEvents(url: string, secret: string, events: unknown): Promise<{ status: number; body: any }> {
  const token = serviceToken(secret);
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, apikey: token },
    body: JSON.stringify(events),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  if (res.status >= 300) throw new Error(`POST /v1/events: ${res.status} ${text}`);
  return { status: res.status, body };
}

let seq = 0;
/** A unique id so tests never share a channel by accident. */
export const uniq = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;
