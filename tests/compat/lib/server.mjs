// Stops and starts the server under test on the same address (the restart test). scripts/compat.sh started
// it and kills whatever pid RTCACHE_PID_FILE names on exit, so the restarted process is cleaned up too. Also
// SIGKILL of a server, for the pg and cluster phases' kill tests.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { BASE_URL, BIN, LISTEN, PID_FILE, SERVER_LOG } from './env.mjs';
import { sleep, until } from './clients.mjs';

export const canRestart = () => Boolean(PID_FILE && BIN && LISTEN);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// SIGKILL: no drain, no goodbye; waits until the process is gone. `what` names it in errors ("node a", "server").
export async function killPid(pid, what) {
  if (!pid || !alive(pid)) throw new Error(`${what}: pid ${pid} is not running`);
  process.kill(pid, 'SIGKILL');
  await until(() => !alive(pid), 5000, `${what} (pid ${pid}) gone after SIGKILL`, 10);
}

export async function stopServer(timeoutMs = 5000) {
  const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < end) await sleep(25);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(25);
  }
}

export async function startServer(timeoutMs = 10000) {
  const log = openSync(SERVER_LOG, 'a');
  // The config the script started it with (RTCACHE_COMPAT_CONFIG), if any.
  const args = process.env.RTCACHE_COMPAT_CONFIG ? ['serve', '-c', process.env.RTCACHE_COMPAT_CONFIG] : ['serve'];
  const child = spawn(BIN, args, {
    env: process.env, // RTCACHE_JWT_SECRET and RTCACHE_LISTEN as the script set them
    stdio: ['ignore', log, log],
    detached: true,
  });
  child.unref();
  writeFileSync(PID_FILE, `${child.pid}\n`);
  await waitReady(timeoutMs);
  return child.pid;
}

export async function waitReady(timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const res = await fetch(`${BASE_URL}/readyz`);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(50);
  }
  throw new Error(`server not ready after ${timeoutMs} ms (${last})`);
}
