// Drives Debian's Chromium with playwright-core through the SDK test
// pages of PAGE_URL (see page.html and sdk_test.go), failing (exit 1) when
// a step does not happen within its deadline:
//  1. / : 12 events, the proxy answering 503 and 429 to the first two batches, and
//     a 13th tracked after the first 503; the page's queue empties;
//  2. /unload : one event that only leaving the page sends (pagehide,
//     sendBeacon), after a layout shift and a slow click (Web Vitals);
//     PAGE_URL/stored says when it is in sluice;
//  3. /reload : with the proxy down (503 to everything), three events are
//     refused, the page is reloaded, the reloaded page still has them;
//     the proxy comes up and the queue empties; then an invalid event is
//     refused (400) and dropped;
//  4. /tabs in two tabs, sluice unreachable: each tracks one, the first is
//     closed; the second sends both.
// Prints, as JSON, the requests that failed and page errors.
const { chromium } = require('playwright-core');

const base = process.env.PAGE_URL;

async function until(what, f, ms) {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const is503 = (r) => r.url().includes('/v1/events') && r.status() === 503;

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const errors = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));

    const first = page.waitForResponse(is503);
    await page.goto(base);
    await first;
    // A full batch is waiting: this event must not cut the wait short.
    await page.evaluate(() => sluice.track('test.clicked', { label: 'retry-13' }));
    await until('the 13 events of / sent', () => page.evaluate(() => sluice.queued() === 0), 30000);

    await page.goto(base + 'unload');
    if ((await page.evaluate(() => sluice.queued())) !== 1) throw new Error('/unload: want its one event queued');
    await page.waitForSelector('#banner');
    await page.click('#slow');
    await page.waitForFunction(() => window.interacted, null, { timeout: 10000 });
    await page.goto(base + 'blank');
    await until('the event of /unload stored (by the pagehide beacon)', async () => (await fetch(base + 'stored?label=unload')).ok, 10000);

    await fetch(base + 'proxy/down');
    let refused = page.waitForResponse(is503);
    await page.goto(base + 'reload');
    await refused;
    await page.reload(); // its beacon is refused too
    const queued = await page.evaluate(() => sluice.queued());
    if (queued < 3) throw new Error(`after the reload, ${queued} events queued, want the 3 of /reload at least`);
    await fetch(base + 'proxy/up');
    await until('the queue of /reload sent', () => page.evaluate(() => sluice.queued() === 0), 30000);
    // An event sluice refuses (400: the type is invalid) is dropped, not
    // retried for ever.
    const refusedFor400 = page.waitForResponse((r) => r.url().includes('/v1/events') && r.status() === 400);
    await page.evaluate(() => sluice.track('not a type', 1));
    await refusedFor400;
    await until('the refused event dropped', () => page.evaluate(() => sluice.queued() === 0), 10000);
    // Two tabs share the stored queue: each tracks an event while sluice
    // is unreachable, the first is closed, the second sends both.
    await fetch(base + 'proxy/down');
    const tabA = await context.newPage(); // the same localStorage
    await tabA.goto(base + 'tabs');
    await page.goto(base + 'tabs');
    await tabA.evaluate(() => sluice.track('test.tab', { label: 'tab-a' }));
    // A write reaches the other tabs a little later (the browser passes it
    // on): once the second tab sees the first one's event, its own must
    // not overwrite it.
    await until('the event of the first tab seen by the second', () => page.evaluate(() => sluice.queued() === 1), 10000);
    await page.evaluate(() => sluice.track('test.tab', { label: 'tab-b' }));
    await tabA.close();
    await fetch(base + 'proxy/up');
    await until('the events of both tabs sent by the one left', () => page.evaluate(() => sluice.queued() === 0), 30000);
    // Offline, the queue keeps its last maxQueue events: the oldest go.
    await fetch(base + 'proxy/down');
    await page.goto(base + 'bounded');
    await page.evaluate(() => { for (let i = 1; i <= 8; i++) sluice.track('test.bounded', { label: 'bounded-' + i }); });
    const bounded = await page.evaluate(() => sluice.queued());
    if (bounded !== 5) throw new Error(`offline with maxQueue 5, ${bounded} events queued after 8 tracked, want 5`);
    await fetch(base + 'proxy/up');
    await until('the bounded queue sent', () => page.evaluate(() => sluice.queued() === 0), 30000);
    console.log(JSON.stringify({ errors }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
