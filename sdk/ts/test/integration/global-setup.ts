// Starts one `rtcache serve` for the integration files (RTCACHE_BIN, default ../../build/release/src/main/rtcache
// relative to sdk/ts) on a free port with a generated secret. Without a binary the integration tests fail with
// the reason; the unit suites still run.
import type { TestProject } from 'vitest/node';
import { startServer, type ServerHandle } from './server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    rtcache: { url: string; secret: string; error?: string };
  }
}

let server: ServerHandle | undefined;

export default async function setup(project: TestProject) {
  try {
    server = await startServer();
    project.provide('rtcache', { url: server.url, secret: server.secret });
  } catch (e) {
    project.provide('rtcache', { url: '', secret: '', error: (e as Error).message });
  }
  return async () => {
    await server?.stop();
  };
}
