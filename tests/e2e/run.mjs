// The browser suite: the demo factory app in headless Chromium against the real stack. scripts/e2e.sh starts
// PostgreSQL, the API and the web app and sets the environment; this runner owns the rtcache process (one case
// kills it). Prints one line per case and, last, `e2e: N passed, M failed`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { AppPage, FactoryApi, RtcacheProcess, assert, env, sleep, waitFor, withDatabase } from './lib.mjs';

const WEB = env('E2E_WEB_URL');
const API = env('E2E_API_URL');
const SHOTS = env('E2E_SCREENSHOT_DIR');
const LOGS = env('E2E_LOG_DIR');
const ONLY = process.env.E2E_ONLY ?? '';
// How long "nothing more happens" is watched for: above the SDK's coalescing window (300 ms) plus delivery.
const SETTLE_MS = Number(process.env.E2E_SETTLE_MS ?? 1500);

mkdirSync(SHOTS, { recursive: true });
const rtcache = new RtcacheProcess({
  bin: env('RTCACHE_BIN'),
  config: env('RTCACHE_CONFIG'),
  listen: env('RTCACHE_LISTEN'),
  secret: env('RTCACHE_JWT_SECRET'),
  conninfo: env('RTCACHE_PG_CONNINFO'),
  logFile: join(LOGS, 'rtcache.log'),
});
const api = new FactoryApi(API);

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

let browser;
async function withPage(fn) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 } });
  const page = new AppPage(await context.newPage());
  try {
    return await fn(page);
  } finally {
    await context.close();
  }
}

const newest = async (type, factory, page = 1) => (await api.list(type, factory, page)).items[0];

test('detail view reflects a server-side update without a reload', () =>
  withPage(async (p) => {
    const wo = await newest('wo', 'f1');
    await p.open(WEB, `/f1/wo/${wo.id}`, 'f1,f2');
    await p.live();
    await p.joined(`doc:wo:${wo.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) === `v${wo.version}`);
    await api.resetLog();
    const quantity = wo.quantity + 111;
    const updated = await api.update('wo', wo.id, { quantity, status: 'in_progress' });
    await waitFor('the new quantity on screen', async () => (await p.text('field-quantity')) === String(quantity));
    await waitFor('the new version on screen', async () => (await p.text('doc-version')) === `v${updated.version}`);
    assert(await p.notReloaded(), 'the page was reloaded');
    // quantity and status are patch columns (rtcache.toml): the event carried the new values, so the SDK
    // patched its cache and the view changed without asking the API.
    const refetches = (await api.log()).filter((e) => e.kind === 'detail');
    assert(refetches.length === 0, `the detail was refetched instead of patched: ${JSON.stringify(refetches)}`);
    assert((await p.stats()).patched >= 1, 'the SDK patched nothing');
    await waitFor('the dashboard to show this connection', async () => Number(await p.text('metric-connections')) >= 1);
    await p.page.screenshot({ path: join(SHOTS, 'factory-app-detail.png') });
  }));

test('list view refetches only its first page on create and on delete', () =>
  withPage(async (p) => {
    await p.open(WEB, '/f1/pu', 'f1,f2');
    await p.live();
    await p.joined('list:pu:f1');
    await p.testId('page-1').waitFor();
    await p.testId('load-more').click();
    await p.testId('page-2').waitFor();
    await sleep(SETTLE_MS);
    await api.resetLog();

    const created = await api.call('POST', '/api/pu', { factory_id: 'f1', number: 'PU-E2E-1', supplier: 'E2E Supplies', amount: 42 });
    await p.testId(`row-${created.id}`).waitFor({ timeout: 15000 });
    await sleep(SETTLE_MS); // also lets the dashboard scrape /metrics once more for the screenshot
    let lists = (await api.log()).filter((e) => e.kind === 'list');
    assert(lists.some((e) => e.page === 1), `no first-page refetch after create: ${JSON.stringify(lists)}`);
    assert(lists.every((e) => e.page === 1 && e.factory === 'f1' && e.type === 'pu'), `other pages refetched: ${JSON.stringify(lists)}`);
    await p.page.screenshot({ path: join(SHOTS, 'factory-app-list.png') });

    await api.resetLog();
    await api.call('DELETE', `/api/pu/${created.id}`);
    await p.testId(`row-${created.id}`).waitFor({ state: 'detached', timeout: 15000 });
    await sleep(SETTLE_MS);
    lists = (await api.log()).filter((e) => e.kind === 'list');
    assert(lists.some((e) => e.page === 1), `no first-page refetch after delete: ${JSON.stringify(lists)}`);
    assert(lists.every((e) => e.page === 1), `other pages refetched after delete: ${JSON.stringify(lists)}`);
    assert(await p.notReloaded(), 'the page was reloaded');
  }));

test('a burst of 50 updates within 200 ms causes at most 2 refetches and ends on the last version', () =>
  withPage(async (p) => {
    // customer is not a patch column for packing lists: every event means "refetch", so coalescing is what
    // keeps the refetches down.
    const pl = await newest('pl', 'f1');
    await p.open(WEB, `/f1/pl/${pl.id}`, 'f1,f2');
    await p.live();
    await p.joined(`doc:pl:${pl.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) === `v${pl.version}`);
    await sleep(SETTLE_MS);
    await api.resetLog();

    // 50 transactions, one UPDATE each, sent as one simple-query message: the burst does not depend on how
    // fast this machine answers 50 HTTP requests.
    const burstMs = await withDatabase(env('RTCACHE_PG_CONNINFO'), async (db) => {
      const sql = Array.from({ length: 50 }, (_, i) =>
        `BEGIN; UPDATE packing_lists SET customer = 'Burst customer ${i}' WHERE id = ${Number(pl.id)}; COMMIT;`).join('\n');
      const started = Date.now();
      await db.query(sql);
      return Date.now() - started;
    });
    const last = await api.call('GET', `/api/pl/${pl.id}`);
    assert(last.version === pl.version + 50, `expected version ${pl.version + 50}, got ${last.version}`);
    assert(last.customer === 'Burst customer 49', `last customer is ${last.customer}`);
    assert(burstMs <= 200, `the burst took ${burstMs} ms (> 200 ms): the case measures nothing`);

    await waitFor('the last version on screen', async () => (await p.text('doc-version')) === `v${last.version}`);
    await sleep(SETTLE_MS);
    assert((await p.text('field-customer')) === last.customer, 'the view does not show the last customer');
    const refetches = (await api.log()).filter((e) => e.kind === 'detail' && e.id === pl.id);
    assert(refetches.length <= 2, `${refetches.length} refetches for 50 updates in ${burstMs} ms`);
    console.log(`    burst: 50 updates in ${burstMs} ms -> ${refetches.length} refetch(es)`);
  }));

test('after a route change the previous view is unsubscribed and its events are not handled', () =>
  withPage(async (p) => {
    const wo = await newest('wo', 'f1');
    await p.open(WEB, `/f1/wo/${wo.id}`, 'f1,f2');
    await p.live();
    await p.joined(`doc:wo:${wo.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) !== '');

    const left = Date.now();
    await p.testId('nav-grn').click(); // another type: nothing on the new screen involves work orders
    await p.joined('list:grn:f1', left);
    await waitFor('a phx_leave for the doc channel', () =>
      p.frames.some((f) => f.dir === 'sent' && f.event === 'phx_leave' && f.topic === `realtime:doc:wo:${wo.id}` && f.at >= left),
    );
    const topics = p.subscribedTopics();
    assert(!topics.some((t) => t.includes(`doc:wo:${wo.id}`)), `still subscribed: ${topics}`);
    assert(!topics.some((t) => t.startsWith('realtime:list:wo')), `still subscribed to a wo list: ${topics}`);

    await sleep(SETTLE_MS);
    await api.resetLog();
    const before = await p.stats();
    const since = Date.now();
    await api.update('wo', wo.id, { quantity: wo.quantity + 5 });
    await api.update('wo', wo.id, { priority: 1 });
    await sleep(SETTLE_MS * 2);
    const after = await p.stats();
    const arrived = p.events(since);
    const woFrames = arrived.filter((e) => /:wo:/.test(e.topic));
    assert(woFrames.length === 0, `events for the left view arrived: ${JSON.stringify(woFrames)}`);
    // Whatever the SDK handled came on the current view's channels (a factory summary, say), never the old ones.
    assert(after.received - before.received === arrived.length,
      `the SDK handled ${after.received - before.received} events, ${arrived.length} arrived on current channels`);
    const woRequests = (await api.log()).filter((e) => e.type === 'wo' && (e.kind === 'detail' || e.kind === 'list'));
    assert(woRequests.length === 0, `requests for the left view: ${JSON.stringify(woRequests)}`);
  }));

test('a user scoped to factory f1 never sees factory f2 data or events', () =>
  withPage(async (p) => {
    const f2wo = await newest('wo', 'f2');
    await p.open(WEB, '/f1/wo', 'f1');
    await p.live();
    await p.joined('list:wo:f1');
    const options = await p.testId('factory-switcher').locator('option').allTextContents();
    assert(JSON.stringify(options) === '["f1"]', `factory switcher offers ${options}`);

    // f2's list by URL: refused by the app and the API, no rows.
    await p.page.evaluate(() => {
      history.pushState(null, '', '/f2/wo' + location.search);
      window.dispatchEvent(new Event('app:navigate'));
    });
    await p.testId('view-error').waitFor();
    assert((await p.page.locator('[data-testid^="row-"]').count()) === 0, 'rows of f2 are shown');

    // f2's document by id under an f1 URL: the API answers 404, the doc channel delivers nothing of f2.
    const since = Date.now();
    await p.page.evaluate((id) => {
      history.pushState(null, '', `/f1/wo/${id}` + location.search);
      window.dispatchEvent(new Event('app:navigate'));
    }, f2wo.id);
    await p.testId('view-error').waitFor();
    await p.joined(`doc:wo:${f2wo.id}`, since).catch(() => {}); // joined (filtered) or refused: both are fine
    await api.update('wo', f2wo.id, { quantity: f2wo.quantity + 3 });
    await api.call('POST', '/api/wo', { factory_id: 'f2', number: 'WO-E2E-F2', product: 'Secret part' });
    await api.call('POST', `/api/wo/${f2wo.id}/approve`);

    // ...while f1 activity still arrives on the same socket (so the silence above is filtering, not a dead socket).
    const f1wo = await newest('wo', 'f1');
    await p.testId('nav-wo').click();
    await p.joined('list:wo:f1', since);
    await api.update('wo', f1wo.id, { quantity: f1wo.quantity + 1 });
    await waitFor('an f1 event', () => p.events(since).some((e) => e.factoryId === 'f1'));
    await sleep(SETTLE_MS);

    const leaked = p.frames.filter((f) => f.dir === 'received' && /"f2"|WO-F2-|Secret part/.test(f.text));
    assert(leaked.length === 0, `f2 reached the socket: ${leaked.map((f) => f.text).join('\n')}`);
    const html = await p.page.content();
    assert(!html.includes('WO-F2-') && !html.includes('Secret part'), 'f2 data on screen');
    const stats = await p.stats();
    assert((stats.dropped?.scope ?? 0) === 0, `the client had to drop out-of-scope events: ${JSON.stringify(stats)}`);
  }));

test('after rtcache is killed (-9) and restarted, the open view catches up without a reload', () =>
  withPage(async (p) => {
    const lot = await newest('lot', 'f1');
    await p.open(WEB, `/f1/lot/${lot.id}`, 'f1,f2');
    await p.live();
    await p.joined(`doc:lot:${lot.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) === `v${lot.version}`);

    await rtcache.kill9();
    await waitFor('the indicator to show the outage', async () =>
      (await p.testId('live-indicator').getAttribute('data-connected')) === 'false',
    );
    const quantity = lot.quantity + 1000;
    const updated = await api.update('lot', lot.id, { quantity });
    await rtcache.start();

    await waitFor('the live indicator after the restart', async () =>
      (await p.testId('live-indicator').getAttribute('data-connected')) === 'true', 30000,
    );
    await waitFor('the missed update on screen', async () => (await p.text('field-quantity')) === String(quantity), 30000);
    await waitFor('the missed version on screen', async () => (await p.text('doc-version')) === `v${updated.version}`);
    assert(await p.notReloaded(), 'the page was reloaded');
  }));

// ---- run ----

let passed = 0;
let failed = 0;
try {
  await rtcache.start();
  await api.init();
  browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  for (const c of cases) {
    if (ONLY && !c.name.includes(ONLY)) continue;
    const t0 = Date.now();
    try {
      await c.fn();
      passed++;
      console.log(`ok   ${c.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${c.name} (${Date.now() - t0} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 4).join('\n     ')}`);
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL setup: ${e?.stack ?? e}`);
} finally {
  await browser?.close().catch(() => {});
  await rtcache.stop().catch(() => {});
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
