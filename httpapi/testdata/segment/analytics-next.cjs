// Opens PAGE_URL in Debian's Chromium with playwright-core, waits until the
// page's analytics.js calls are delivered, opens it again (the same calls,
// the same messageIds), then opens PAGE_URL/unload, whose one call waits
// in a batch, and leaves it (pagehide), and prints, as JSON, the ids sent,
// every request the page tried to make beyond 127.0.0.1 (none resolves;
// there must be none), and the requests that failed before the navigation.
const { chromium } = require('playwright-core');

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const outside = [];
  const failed = [];
  try {
    const page = await browser.newPage();
    // Requests are watched, not intercepted: an intercepted keepalive
    // request dies with its page. The resolver rule keeps anything beyond
    // 127.0.0.1 from leaving the machine.
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.hostname !== '127.0.0.1') outside.push(u.href);
    });
    page.on('requestfailed', (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
    page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
    await page.goto(process.env.PAGE_URL);
    const ids = await page.evaluate(() => window.sent);
    // Leaving the page aborts what it still sends (a keepalive flush): the
    // failures that count are those before.
    const failedBefore = failed.slice();
    // Away and back: analytics.js sends its calls again with the same
    // messageIds (sluice must store them once).
    await page.goto(process.env.PAGE_URL + 'blank');
    await page.goto(process.env.PAGE_URL);
    await page.evaluate(() => window.sent);
    // A call queued in a batch that would wait a minute, then the page is
    // left: the library's pagehide flush (keepalive) is what sends it.
    await page.goto(process.env.PAGE_URL + 'unload');
    ids.push(await page.evaluate(() => window.queued));
    await page.goto(process.env.PAGE_URL + 'blank');
    console.log(JSON.stringify({ ids, outside, failed: failedBefore }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
