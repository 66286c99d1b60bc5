// Types of the sluice browser SDK (sluice.js), served at /sdk.js.

export interface InitOptions {
  /** A write key; it travels as ?key= and is public by nature. */
  key: string;
  /** The sluice base URL, e.g. "https://events.example.com"; "" (the default) is the page's own origin. */
  host?: string;
  /** Events per request; a full batch is sent at once. Default 20. */
  batchSize?: number;
  /** Milliseconds an incomplete batch waits before it is sent. Default 5000. */
  flushInterval?: number;
  /** Events kept queued (in localStorage) at most; beyond, the oldest are dropped. Default 1000. */
  maxQueue?: number;
  /** First retry delay in milliseconds, doubled on each failure. Default 1000. */
  minBackoff?: number;
  /** Longest retry delay in milliseconds (Retry-After may ask for more). Default 60000. */
  maxBackoff?: number;
  /** Report TTFB, FCP, LCP, CLS and INP in one "web.vitals" event when the page is first hidden. Default false. */
  webVitals?: boolean;
}

export interface TrackOptions {
  /** The event's stream; sluice defaults it to the type. */
  stream?: string;
}

/** The data of a "web.vitals" event: milliseconds, except CLS (unitless); a metric the browser did not measure is absent. */
export interface WebVitals {
  ttfb?: number;
  fcp?: number;
  lcp?: number;
  cls?: number;
  inp?: number;
  url: string;
}

export interface Sluice {
  /** Starts the SDK: loads the events queued by earlier pages and sends them. Throws without a key. */
  init(options: InitOptions): void;
  /** Queues an event of type (1–128 of A-Za-z0-9._:-) with data (any JSON value), with an id made here. */
  track(type: string, data?: unknown, options?: TrackOptions): void;
  /** Sends the oldest batch now, or when a request in flight or the wait of a retry ends. */
  flush(): void;
  /** The number of events not yet confirmed stored. */
  queued(): number;
}

declare global {
  interface Window {
    sluice: Sluice;
  }
  const sluice: Sluice;
}
