// The browser suite: the demo factory app in headless Chromium against the real stack. scripts/e2e.sh starts
// PostgreSQL, the API and the web app and sets the environment; this runner owns the rtcache process (one case
// kills it) and the proxy the browser reaches it through (cases hold a channel's join there). Prints one line
// per case and, last, `e2e: N passed, M failed`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { AppPage, FactoryApi, JoinDelayProxy, RtcacheProcess, assert, env, sleep, waitFor, withDatabase } from './lib.mjs';

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
const proxy = new JoinDelayProxy({ listen: env('E2E_PROXY_LISTEN'), target: env('RTCACHE_LISTEN') });

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

// In the SPA, as a link does: history.pushState and the app's navigate event.
const goTo = (p, path) =>
  p.page.evaluate((to) => {
    history.pushState(null, '', to + location.search);
    window.dispatchEvent(new Event('app:navigate'));
  }, path);
// rtcache published a change of `type` in `factory` after `since`: its factory summary reached the browser (a
// change reaches every channel of its transaction at once, so a channel joined later has missed it).
const published = (p, since, type, factory) =>
  waitFor(`a ${type} change in ${factory} published`, () =>
    p.events(since).some((e) => e.topic === `realtime:factory:${factory}` && e.type === type && e.id === '*'),
  );
const detailReads = async (type, id) => (await api.log()).filter((e) => e.kind === 'detail' && e.type === type && String(e.id) === String(id));

test('detail view reflects a server-side update without a reload', () =>
  withPage(async (p) => {
    const wo = await newest('wo', 'f1');
    await p.open(WEB, '/f1/grn', 'f1,f2');
    await p.live();
    await api.resetLog();
    await goTo(p, `/f1/wo/${wo.id}`);
    await p.joined(`doc:wo:${wo.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) === `v${wo.version}`);
    await sleep(SETTLE_MS);
    // One useRealtimeQuery per view: its first fetch waited for the view's joins and was the only one.
    const opened = await detailReads('wo', wo.id);
    assert(opened.length === 1, `${opened.length} reads of the detail to open it`);
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

test('a row created while the list\'s first load is in flight appears', () =>
  withPage(async (p) => {
    // The first read of page 1 is answered with what the list held before the create, after the create's event
    // reached the SDK: the SDK must refetch page 1 once that first load settles (TanStack/query#8530).
    let release;
    const released = new Promise((resolve) => (release = resolve));
    let held = false;
    await p.page.route(/\/api\/dn\?factory=f1&page=1(&|$)/, async (route) => {
      if (held) return route.continue();
      held = true;
      const before = await route.fetch();
      await released;
      await route.fulfill({ response: before });
    });
    await api.resetLog();
    await p.open(WEB, '/f1/dn', 'f1,f2');
    await waitFor('the first load of page 1 under way', async () => held && (await api.log()).some((e) => e.kind === 'list' && e.type === 'dn'));
    const created = await api.call('POST', '/api/dn', { factory_id: 'f1', number: 'DN-E2E-FIRST', carrier: 'DHL', destination: 'Kiel' });
    await waitFor('the create event in the browser', () =>
      p.events().some((e) => e.topic === 'realtime:list:dn:f1' && String(e.id) === String(created.id) && e.action === 'create'),
    );
    await waitFor('the SDK to plan the list head refetch', async () => (await p.stats()).listRefetches >= 1);
    release();
    await p.testId(`row-${created.id}`).waitFor({ timeout: 15000 });
    const reads = (await api.log()).filter((e) => e.kind === 'list' && e.type === 'dn');
    assert(reads.length === 2 && reads.every((e) => e.page === 1), `page reads: ${JSON.stringify(reads)}`);
  }));

test('a change committed between a detail view\'s first fetch and its join appears', () =>
  withPage(async (p) => {
    // The doc channel's join is held at the proxy past the SDK's wait (500 ms): the view is shown from a fetch
    // that reads the row before the change, and the server does not stream the change to a channel it has not
    // joined. The SDK fetches the view once more when the join is through.
    const wo = await newest('wo', 'f1');
    await p.open(WEB, '/f1/grn', 'f1,f2');
    await p.live();
    const hold = proxy.holdJoin(`realtime:doc:wo:${wo.id}`);
    await api.resetLog();
    await goTo(p, `/f1/wo/${wo.id}`);
    await hold.held;
    await waitFor('the detail shown without its channel', async () => (await p.text('doc-version')) === `v${wo.version}`);
    const quantity = wo.quantity + 17;
    const committed = Date.now();
    const updated = await api.update('wo', wo.id, { quantity });
    await published(p, committed, 'wo', 'f1');
    hold.release();
    await waitFor('the change on screen', async () => (await p.text('field-quantity')) === String(quantity));
    await waitFor('its version on screen', async () => (await p.text('doc-version')) === `v${updated.version}`);
    const reads = await detailReads('wo', wo.id);
    assert(reads.length === 2, `${reads.length} reads of the detail (expected: at the wait's bound, and once at the join)`);
  }));

test('a change committed while a detail view\'s join is on its way is read by its one fetch', () =>
  withPage(async (p) => {
    // The join is held briefly (well inside the SDK's 500 ms wait): the first fetch waits for it, so it reads
    // the change committed meanwhile.
    const wo = await newest('wo', 'f2');
    await p.open(WEB, '/f2/grn', 'f1,f2');
    await p.live();
    const hold = proxy.holdJoin(`realtime:doc:wo:${wo.id}`);
    await api.resetLog();
    await goTo(p, `/f2/wo/${wo.id}`);
    const heldAt = await hold.held;
    // Give a fetch that does not wait for the join the time to read the row before the change (none comes).
    await waitFor('the row read, or 150 ms', async () => Date.now() - heldAt >= 150 || (await detailReads('wo', wo.id)).length > 0);
    const quantity = wo.quantity + 23;
    const committed = Date.now();
    await api.update('wo', wo.id, { quantity });
    await published(p, committed, 'wo', 'f2');
    const releasedAfter = Date.now() - heldAt;
    hold.release();
    await waitFor('the change on screen', async () => (await p.text('field-quantity')) === String(quantity));
    const reads = await detailReads('wo', wo.id);
    // Inside the wait the view is fetched once; a machine slow enough to hold the join past it fetches twice.
    assert(reads.length === 1 || (reads.length === 2 && releasedAfter > 400), `${reads.length} reads, join held ${releasedAfter} ms`);
    console.log(`    join held ${releasedAfter} ms -> ${reads.length} read(s) of the detail`);
  }));

test('back and forward apply the pending events when they happen', () =>
  withPage(async (p) => {
    // Timers are frozen once the detail view is up, so the SDK's coalescing window cannot run out: whatever is
    // applied after back was applied by the navigation itself.
    await p.page.clock.install();
    const wo = await newest('wo', 'f1');
    await p.open(WEB, '/f1/wo', 'f1,f2');
    await p.live();
    await p.testId(`open-${wo.id}`).click();
    await p.joined(`doc:wo:${wo.id}`);
    await waitFor('the detail view', async () => (await p.text('doc-version')) !== '');
    await p.page.clock.pauseAt(Date.now() + 1000);
    const before = await p.stats();
    await api.update('wo', wo.id, { quantity: wo.quantity + 31 });
    await waitFor('the event in the SDK', async () => (await p.stats()).received > before.received);
    assert((await p.stats()).batches === before.batches, 'the event was applied before its window ended');
    const backAt = Date.now();
    await p.page.goBack();
    await waitFor('the list again', async () => (await p.page.evaluate(() => location.pathname)) === '/f1/wo');
    const back = await p.stats();
    assert(back.batches > before.batches, `back left the event pending: ${JSON.stringify({ before, back })}`);
    assert(back.patched + back.invalidated > before.patched + before.invalidated, 'nothing was applied');

    await p.joined('list:wo:f1', backAt); // the list's rows take the next event
    const mid = await p.stats();
    await api.update('wo', wo.id, { priority: 2 });
    await waitFor('the next event in the SDK', async () => (await p.stats()).received > mid.received);
    await p.page.goForward();
    await waitFor('the detail again', async () => (await p.page.evaluate(() => location.pathname)) === `/f1/wo/${wo.id}`);
    assert((await p.stats()).batches > mid.batches, 'forward left the event pending');
    await p.page.clock.resume();
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
  await proxy.start();
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
  await proxy.stop().catch(() => {});
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
