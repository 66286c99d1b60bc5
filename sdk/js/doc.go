// Package js embeds the browser SDK (sluice.js, typed by sluice.d.ts) and
// serves it: Handler answers GET /sdk.js with a day of caching, an ETag,
// and the gzipped bytes to clients that accept them. The script itself is
// plain JavaScript with no build step; docs/sdk.md describes it.
package js
