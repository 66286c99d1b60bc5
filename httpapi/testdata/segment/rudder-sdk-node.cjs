// Sends a track and an identify with @rudderstack/rudder-sdk-node to the
// data plane in SLUICE_URL with the write key WRITE_KEY, with the
// messageIds <PREFIX>-track and <PREFIX>-identify, then flushes and exits:
// 0 when the flush succeeded.
const Analytics = require('@rudderstack/rudder-sdk-node');

const prefix = process.env.PREFIX;
const client = new Analytics(process.env.WRITE_KEY, { dataPlaneUrl: process.env.SLUICE_URL, flushAt: 10, logLevel: 'error' });
client.track({ messageId: `${prefix}-track`, userId: 'u-2', event: 'Item Viewed', properties: { sku: 'A-1' } });
client.identify({ messageId: `${prefix}-identify`, userId: 'u-2', traits: { name: 'Ann' } });
client.flush((err) => {
  if (err) {
    console.error('rudder-sdk-node error:', err.message);
    process.exit(1);
  }
  process.exit(0);
});
