/* sluice browser SDK: sluice.init({key, host}), sluice.track(type, data).
 * Plain JavaScript, no dependencies, no build step; see docs/sdk.md. */
(function (root) {
  'use strict';
  var o, queue = [], gone = {}, timer = 0, due = 0, until = 0, sending = false, failures = 0, vitals = null, beaconed = '';

  function now() { return new Date().toISOString(); }

  // An id made here, before the first attempt: every retry and every
  // beacon carries it, so sluice stores the event once.
  function uuid() {
    var c = root.crypto;
    if (c.randomUUID) return c.randomUUID();
    var b = c.getRandomValues(new Uint8Array(16)), h = [];
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    h = h.join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function storageKey() { return 'sluice:' + o.key; }

  // The site's tabs share the queue in localStorage, and a tab's write
  // reaches the others a little later: sync merges the stored queue with
  // this tab's and writes the union back, before every change and as the
  // tab goes away. An event that another tab delivered may so be sent once
  // more by this one; sluice drops the copy. The ids this tab is done with
  // (gone) never come back, so that two tabs do not hand one event back and
  // forth. When storage fails (full, refused), the memory copy keeps the
  // events.
  function sync() {
    var s, have = {};
    try { s = JSON.parse(localStorage.getItem(storageKey())) || []; } catch (e) { return; }
    s.forEach(function (e) { have[e.id] = 1; });
    queue.forEach(function (e) { if (!have[e.id]) s.push(e); });
    queue = s.filter(function (e) { return !gone[e.id]; });
    save();
  }

  function save() {
    try {
      if (queue.length) localStorage.setItem(storageKey(), JSON.stringify(queue));
      else localStorage.removeItem(storageKey());
    } catch (e) { /* the memory copy keeps them */ }
  }

  function url() { return o.host + '/v1/events?key=' + encodeURIComponent(o.key); }

  // schedule has flush run in ms, or when the wait of a retry ends
  // (until), whichever is later, unless it already runs sooner.
  function schedule(ms) {
    var at = Math.max(Date.now() + ms, until);
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(function () { timer = 0; flush(); }, at - Date.now());
  }

  // flush sends the oldest batch, one request at a time. text/plain and
  // ?key= make it a simple request: no CORS preflight.
  function flush() {
    sync();
    if (sending || !queue.length) return;
    if (Date.now() < until) return schedule(0);
    clearTimeout(timer);
    timer = 0;
    sending = true;
    var batch = queue.slice(0, o.batchSize), body = JSON.stringify(batch);
    fetch(url(), { method: 'POST', body: body, headers: { 'Content-Type': 'text/plain' }, keepalive: body.length < 60000 })
      .then(function (r) {
        if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429)) {
          // Stored, or refused for good (a bad event, a revoked key): never retried.
          if (!r.ok && root.console) console.warn('sluice: events refused with status ' + r.status);
          return done(batch);
        }
        retry(parseFloat(r.headers.get('Retry-After')));
      }, function () { retry(NaN); });
  }

  function done(batch) {
    for (var i = 0; i < batch.length; i++) gone[batch[i].id] = 1;
    sync();
    sending = false;
    failures = 0;
    until = 0;
    if (queue.length >= o.batchSize) flush();
    else if (queue.length) schedule(o.flushInterval);
  }

  // retry waits as long as Retry-After says (429, 503), and at least an
  // exponential backoff with jitter.
  function retry(after) {
    sending = false;
    var backoff = Math.min(o.maxBackoff, o.minBackoff * Math.pow(2, failures++)) * (0.5 + Math.random() / 2);
    until = Date.now() + Math.max(after >= 0 ? after * 1000 : 0, backoff);
    schedule(0);
  }

  // beacon hands every queued event to navigator.sendBeacon as the page
  // goes away. They stay queued: the next page sends them again, and sluice
  // drops the duplicates by id, so an event the browser failed to deliver
  // is not lost.
  function beacon() {
    if (vitals) { enqueue('web.vitals', vitals.report()); vitals = null; }
    sync();
    var all = JSON.stringify(queue);
    if (!navigator.sendBeacon || all === beaconed) return; // pagehide after visibilitychange
    beaconed = all;
    for (var i = 0; i < queue.length; i += o.batchSize) {
      navigator.sendBeacon(url(), JSON.stringify(queue.slice(i, i + o.batchSize)));
    }
  }

  function enqueue(type, data, opts) {
    var e = { id: uuid(), type: type, time: now(), data: data === undefined ? null : data };
    if (opts && opts.stream) e.stream = opts.stream;
    sync();
    queue.push(e);
    // Beyond maxQueue, the oldest go.
    queue.splice(0, Math.max(0, queue.length - o.maxQueue)).forEach(function (e) { gone[e.id] = 1; });
    save();
  }

  // Web Vitals through PerformanceObserver, reported once, as the page is
  // first hidden, in one event of type web.vitals (milliseconds; CLS
  // unitless).
  function observeVitals() {
    var m = {}, cls = 0, win = 0, first = 0, last = 0, flushes = [];
    function watch(type, f, opts) {
      try {
        var po = new PerformanceObserver(function (l) { l.getEntries().forEach(f); });
        po.observe(Object.assign({ type: type, buffered: true }, opts));
        flushes.push(function () { po.takeRecords().forEach(f); });
      } catch (e) { /* not supported by this browser */ }
    }
    var nav = performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
    if (nav) m.ttfb = nav.responseStart;
    watch('paint', function (e) { if (e.name === 'first-contentful-paint') m.fcp = e.startTime; });
    watch('largest-contentful-paint', function (e) { m.lcp = e.startTime; });
    watch('layout-shift', function (e) {
      if (e.hadRecentInput) return;
      // Session windows: shifts less than 1 s apart, at most 5 s long.
      if (win && e.startTime - last < 1000 && e.startTime - first < 5000) win += e.value;
      else { win = e.value; first = e.startTime; }
      last = e.startTime;
      cls = Math.max(cls, win);
      m.cls = cls;
    });
    // INP: the longest interaction (the 98th percentile below 50 of them).
    watch('event', function (e) {
      if (e.interactionId && !(m.inp >= e.duration)) m.inp = e.duration;
    }, { durationThreshold: 40 });
    return {
      report: function () { // with the entries not yet handed to the observers
        flushes.forEach(function (f) { f(); });
        m.url = location.href;
        return m;
      }
    };
  }

  var sluice = {
    init: function (opts) {
      if (!opts || !opts.key) throw new Error('sluice.init: key is required');
      o = {
        key: opts.key, host: (opts.host || '').replace(/\/+$/, ''),
        batchSize: opts.batchSize || 20, flushInterval: opts.flushInterval || 5000,
        maxQueue: opts.maxQueue || 1000, minBackoff: opts.minBackoff || 1000, maxBackoff: opts.maxBackoff || 60000
      };
      sync();
      if (opts.webVitals && root.PerformanceObserver) vitals = observeVitals();
      root.addEventListener('pagehide', beacon);
      document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'hidden') beacon();
      });
      if (queue.length) schedule(0);
    },
    track: function (type, data, opts) {
      if (!o) throw new Error('sluice.track: call sluice.init first');
      enqueue(type, data, opts);
      if (queue.length >= o.batchSize) flush();
      else schedule(o.flushInterval);
    },
    flush: flush,
    queued: function () { sync(); return queue.length; }
  };
  root.sluice = sluice;
})(window);
