// Sends one call of each kind with @segment/analytics-node to the host in
// SLUICE_URL with the write key WRITE_KEY, each with the messageId
// <PREFIX>-<kind>, in batches of two, then flushes and exits: 0 when the
// SDK reports no error.
const { Analytics } = require('@segment/analytics-node');

const prefix = process.env.PREFIX;
const analytics = new Analytics({
  writeKey: process.env.WRITE_KEY,
  host: process.env.SLUICE_URL,
  flushAt: 2,
  flushInterval: 100,
  maxRetries: 5,
});
let failed = false;
analytics.on('error', (err) => {
  failed = true;
  console.error('analytics-node error:', err.code, err.reason && err.reason.message);
});

const id = (kind) => `${prefix}-${kind}`;
analytics.track({ messageId: id('track'), userId: 'u-1', event: 'Order Completed', properties: { total: 12.5, currency: 'EUR' } });
analytics.identify({ messageId: id('identify'), userId: 'u-1', traits: { plan: 'pro', email: 'u1@example.com' } });
analytics.page({ messageId: id('page'), userId: 'u-1', category: 'Docs', name: 'Pricing', properties: { url: 'https://example.com/pricing' } });
analytics.screen({ messageId: id('screen'), anonymousId: 'anon-1', name: 'Cart' });
analytics.group({ messageId: id('group'), userId: 'u-1', groupId: 'g-1', traits: { name: 'Acme' } });
analytics.alias({ messageId: id('alias'), userId: 'u-1', previousId: 'anon-1' });

analytics.closeAndFlush({ timeout: 30000 }).then(() => {
  process.exit(failed ? 1 : 0);
});
