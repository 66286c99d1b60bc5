// Drives the console in Debian's Chromium with playwright-core: logs in
// with ADMIN_KEY at CONSOLE_URL, watches the overview move while events
// are sent (with Node's fetch and WRITE_KEY, from outside the browser, as
// curl would), sees one appear in the live tail, opens its JSON, filters,
// pauses and resumes, creates a key, uses it, revokes it and sees it
// refused, uploads a broken schema and then a good one. Screenshots go to
// SHOTS. It prints, as JSON, what the Go test checks.
const { chromium } = require('playwright-core');

const base = process.env.CONSOLE_URL;
const shots = process.env.SHOTS;

// send stores one event with key and returns the answer's status.
async function send(type, id, key = process.env.WRITE_KEY, data = { id }) {
  const resp = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id, type, stream: `console-${type}`, data }),
  });
  await resp.arrayBuffer();
  return resp.status;
}

// sendMany stores n events of one stream in one request.
async function sendMany(stream, n) {
  const events = Array.from({ length: n }, (_, i) => ({ id: `${stream}-${i}`, type: 'console.paged', stream, data: { i } }));
  const resp = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${process.env.WRITE_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (resp.status !== 200) throw new Error(`sending ${n} events: ${resp.status} ${await resp.text()}`);
}

// until polls cond every 20 ms until it is true, failing after ms.
async function until(what, cond, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const out = { outside: [], errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.hostname !== '127.0.0.1') out.outside.push(u.href);
    });
    page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`));
    // The answers the test provokes (a wrong key, a broken schema) are
    // logged by Chromium as failed loads: only other errors count.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) out.errors.push(`console: ${m.text()}`);
    });
    const text = (sel) => page.locator(sel).textContent();

    // Log in: a wrong key first, then the admin key.
    await page.goto(`${base}/console/`);
    await page.fill('#login-key', 'sk_admin_wrong');
    await page.click('#login button');
    await page.locator('#login-error').filter({ hasText: 'not an admin key' }).waitFor();
    await page.fill('#login-key', process.env.ADMIN_KEY);
    await page.click('#login button');
    await page.locator('#overview').waitFor();
    out.keyInSession = await page.evaluate(() => sessionStorage.getItem('sluice.adminKey'));

    // Overview: the head figure and the charts follow the events sent.
    await until('three samples', async () => Number(await page.locator('#charts').getAttribute('data-points')) >= 3);
    out.headBefore = await text('#fig-head');
    for (let i = 0; i < 5; i++) await send('overview.tick', `tick-${i}`);
    // The overview samples the head: one sample may fall between the five
    // commits, so wait for the figure to show all five.
    const want = String(Number(out.headBefore) + 5);
    await until('the head figure shows the five events', async () => (await text('#fig-head')) === want);
    out.headAfter = await text('#fig-head');
    await until('an ingest rate above zero', async () => /^[1-9]/.test(await text('#fig-rate')));
    out.charts = await page.locator('#charts .chart canvas').count();
    await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

    // Live tail: an event sent now shows within a second.
    await page.click('a[href="#tail"]');
    await page.locator('#tail-state', { hasText: 'live' }).waitFor();
    const sentAt = Date.now();
    await send('console.tested', 'tail-1');
    await page.locator('#tail-rows tr', { hasText: 'console.tested' }).waitFor({ timeout: 5000 });
    out.tailMillis = Date.now() - sentAt;
    await page.locator('#tail-rows tr', { hasText: 'console.tested' }).click();
    out.tailJSON = JSON.parse(await text('#json-body'));
    await page.screenshot({ path: `${shots}/tail.png` });
    await page.click('#json button');

    // Pause, an event, resume: it arrives (nothing missed).
    await page.click('#tail-pause');
    await page.locator('#tail-state', { hasText: 'paused' }).waitFor();
    await send('console.paused', 'tail-2');
    await page.click('#tail-pause');
    await page.locator('#tail-rows tr', { hasText: 'console.paused' }).waitFor({ timeout: 5000 });

    // A type filter: of two events, only the one of the type shows.
    await page.fill('#tail-type', 'console.kept');
    await page.click('#tail-filters button[type=submit]');
    await page.locator('#tail-state', { hasText: 'live' }).waitFor();
    await send('console.dropped', 'tail-3');
    await send('console.kept', 'tail-4');
    await page.locator('#tail-rows tr', { hasText: 'console.kept' }).waitFor({ timeout: 5000 });
    out.tailTypesAfterFilter = await page.locator('#tail-rows tr td:nth-child(2)').allTextContents();

    // Keys: create one (its secret shown once), use it, revoke it.
    await page.click('a[href="#keys"]');
    await page.locator('#key-rows tr').first().waitFor();
    await page.fill('#key-name', 'made-in-console');
    await page.selectOption('#key-role', 'write');
    await page.click('#key-create button');
    await page.locator('#key-secret, #key-error:not(:empty)').first().waitFor();
    if (await page.locator('#key-secret').isHidden()) throw new Error(`creating a key: ${await text('#key-error')}`);
    const secret = await text('#key-secret-value');
    out.secretPrefix = secret.slice(0, 9);
    out.withNewKey = await send('console.keyed', 'key-1', secret);
    await page.screenshot({ path: `${shots}/keys.png`, fullPage: true });
    const revoke = page.locator('tr[data-key="made-in-console"] button');
    await revoke.click();
    await revoke.click(); // the second click confirms
    await page.locator('tr[data-key="made-in-console"]', { hasText: 'revoked' }).waitFor();
    const revokedAt = Date.now();
    let status;
    await until('the revoked key refused', async () => (status = await send('console.keyed', 'key-2', secret)) === 401, 2000);
    out.revokedStatus = status;
    out.refusedMillis = Date.now() - revokedAt;

    // Schemas: a broken one shows the server's error in place; a good one
    // is listed.
    await page.click('a[href="#schemas"]');
    await page.fill('#schema-type', 'order.placed');
    await page.fill('#schema-doc', '{"type": "object", "properties": {"total": {"type": "money"}}}');
    await page.click('#schema-upload button');
    await page.locator('#schema-error').filter({ hasText: /\S/ }).waitFor();
    out.schemaError = await text('#schema-error');
    await page.screenshot({ path: `${shots}/schemas.png`, fullPage: true });
    await page.fill('#schema-doc', '{"type": "object", "properties": {"total": {"type": "number"}}}');
    await page.click('#schema-upload button');
    await page.locator('#schema-rows tr[data-type="order.placed"]').waitFor();
    out.schemaOK = await text('#schema-ok');
    await page.fill('#schema-doc', '');
    await page.click('#schema-rows tr[data-type="order.placed"]');
    await until('the schema shown', async () => (await page.inputValue('#schema-doc')) !== '');
    out.schemaViewed = JSON.parse(await page.inputValue('#schema-doc'));

    // Quarantine: an event its schema rejects waits there, still fails a
    // replay, and is stored by one after a new version of the schema.
    await send('order.placed', 'q-1', undefined, { total: 'twelve' });
    const quarantined = '#quarantine-rows tr[data-id="q-1"]';
    await page.click('a[href="#quarantine"]');
    await page.locator(quarantined).waitFor();
    out.quarantineRow = await text(quarantined);
    await page.check(`${quarantined} input`);
    await page.click('#quarantine-replay');
    await page.locator('#quarantine-result').filter({ hasText: 'still failing 1' }).waitFor();
    out.replayFailed = await text('#quarantine-result');
    await page.screenshot({ path: `${shots}/quarantine.png`, fullPage: true });
    await page.click('a[href="#schemas"]');
    await page.fill('#schema-type', 'order.placed');
    await page.fill('#schema-doc', '{"type": "object", "properties": {"total": {"type": ["number", "string"]}}}');
    await page.click('#schema-upload button');
    await page.locator('#schema-ok', { hasText: 'version 2' }).waitFor();
    await page.click('a[href="#quarantine"]');
    await page.check(`${quarantined} input`);
    await page.click('#quarantine-replay');
    await page.locator('#quarantine-result').filter({ hasText: 'Replayed 1' }).waitFor();
    out.replayed = await text('#quarantine-result');
    out.quarantineLeft = await page.locator('#quarantine-rows tr').count();

    // Streams: a prefix search, and a stream of 25 events read in two
    // pages of 20.
    await sendMany('paged', 25);
    await page.click('a[href="#streams"]');
    await page.fill('#stream-prefix', 'console-console.');
    await page.click('#stream-search button');
    const names = () => page.locator('#stream-rows tr td:first-child').allTextContents();
    await until('only the streams of the prefix', async () => {
      const n = await names();
      return n.length > 0 && n.every((s) => s.startsWith('console-console.'));
    });
    out.streamsFound = await names();
    await page.fill('#stream-prefix', 'paged');
    await page.click('#stream-search button');
    await page.locator('#stream-rows tr[data-stream="paged"]').click();
    await page.locator('#stream-event-rows tr').nth(19).waitFor();
    out.streamFirstPage = await page.locator('#stream-event-rows tr').count();
    await page.click('#stream-next');
    await page.locator('#stream-event-rows tr').nth(24).waitFor();
    out.streamBothPages = await page.locator('#stream-event-rows tr').count();
    out.streamNextHidden = await page.locator('#stream-next').isHidden();
    await page.screenshot({ path: `${shots}/streams.png`, fullPage: true });

    // Subscriptions and sinks: the file sink has delivered everything;
    // paused, it falls behind; resumed, it catches up; a replay runs.
    const sub = await fetch(`${base}/v1/subscriptions/console-sub`, {
      method: 'PUT', headers: { Authorization: `Bearer ${process.env.ADMIN_KEY}`, 'Content-Type': 'application/json' }, body: '{}',
    });
    if (sub.status !== 201) throw new Error(`creating a subscription: ${sub.status} ${await sub.text()}`);
    await page.click('a[href="#delivery"]');
    const archive = page.locator('#sink-rows tr[data-sink="archive"]');
    const sinkIs = async (state, lag) => (await archive.getAttribute('data-state')) === state && lag(Number(await archive.getAttribute('data-lag')));
    await until('archive running, caught up', () => sinkIs('running', (n) => n === 0));
    out.subscriptionLag = Number(await page.locator('#subscription-rows tr[data-subscription="console-sub"]').getAttribute('data-lag'));
    out.subscriptionHead = (await (await fetch(`${base}/v1/subscriptions/console-sub`, { headers: { Authorization: `Bearer ${process.env.ADMIN_KEY}` } })).json()).head;
    await archive.locator('button', { hasText: 'Pause' }).click();
    await until('archive paused', () => sinkIs('paused', () => true));
    await send('console.late', 'late-1');
    await until('archive behind while paused', () => sinkIs('paused', (n) => n >= 1));
    await page.screenshot({ path: `${shots}/delivery.png`, fullPage: true });
    await archive.locator('button', { hasText: 'Resume' }).click();
    await until('archive caught up after resume', () => sinkIs('running', (n) => n === 0));
    await archive.locator('button', { hasText: 'Replay' }).click();
    await page.locator('#delivery-result', { hasText: 'replay done' }).waitFor();
    out.replayResult = await text('#delivery-result');

    // A phone's screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('a[href="#overview"]');
    await page.locator('#overview').waitFor();
    await page.screenshot({ path: `${shots}/phone.png`, fullPage: true });
    out.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);

    // Log out: the key leaves the session.
    await page.click('#logout');
    await page.locator('#login').waitFor();
    out.keyAfterLogout = await page.evaluate(() => sessionStorage.getItem('sluice.adminKey'));

    // Logged in with an admin key that is then revoked: the console asks
    // for a key again.
    const admin = { Authorization: `Bearer ${process.env.ADMIN_KEY}`, 'Content-Type': 'application/json' };
    const made = await (await fetch(`${base}/v1/keys`, { method: 'POST', headers: admin, body: '{"name":"short-lived","role":"admin"}' })).json();
    await page.fill('#login-key', made.secret);
    await page.click('#login button');
    await page.locator('#overview').waitFor();
    await fetch(`${base}/v1/keys/short-lived`, { method: 'DELETE', headers: admin });
    await page.locator('#login-error', { hasText: 'no longer knows the key' }).waitFor({ timeout: 5000 });
    out.keyAfterRevoke = await page.evaluate(() => sessionStorage.getItem('sluice.adminKey'));
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
