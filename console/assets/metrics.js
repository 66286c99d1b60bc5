// Reads the figures the overview charts from the Prometheus text format
// of /metrics.

// parse returns a map from each sample's name (with its labels, as
// written) to its value. Comments and malformed lines are skipped.
export function parse(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) samples.set(m[1], Number(m[2]));
  }
  return samples;
}

// sum adds the samples named name, whatever their labels.
export function sum(samples, name) {
  let total = 0;
  for (const [k, v] of samples) if (k === name || k.startsWith(`${name}{`)) total += v;
  return total;
}

// byLabel returns the samples named name by the value of their label.
export function byLabel(samples, name, label) {
  const out = new Map();
  const re = new RegExp(`${label}="([^"]*)"`);
  for (const [k, v] of samples) {
    if (!k.startsWith(`${name}{`)) continue;
    const m = re.exec(k);
    if (m) out.set(m[1], (out.get(m[1]) || 0) + v);
  }
  return out;
}
