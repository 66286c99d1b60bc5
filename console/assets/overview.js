// Overview: figures and charts from /metrics, sampled every second while
// logged in, with the last 10 minutes kept in this tab.
import { request, session } from './api.js';
import { parse, sum, byLabel } from './metrics.js';

const history = 600; // samples: 10 minutes at one a second
const $ = (id) => document.getElementById(id);

// The charts, each a list of series drawn from one sample of rates.
const specs = [
  { id: 'rate', title: 'Ingest, events/s', series: [['accepted', '#2563eb'], ['rejected', '#b42318'], ['duplicate', '#9e77ed']] },
  { id: 'share', title: 'Rejected and quarantined, % of events', series: [['rejected', '#b42318'], ['quarantined', '#f79009']] },
  { id: 'commit', title: 'Commit latency, ms (mean)', series: [['commit', '#067647']] },
  { id: 'queue', title: 'Writer queue, events', series: [['queue', '#5d6b79']] },
  { id: 'head', title: 'Log head, position', series: [['head', '#1d232a']] },
];

const times = [];
const columns = new Map(); // chart id -> arrays of values, one per series
let sinkNames = []; // the sinks of the lag chart
const charts = new Map(); // chart id -> uPlot
let prev = null; // the last sample, for rates
let timer = null;
let visible = false;

function push(arr, v) {
  arr.push(v);
  if (arr.length > history) arr.shift();
}

// rates turns two samples of the counters into the figures of one second.
function rates(a, b) {
  const dt = (b.at - a.at) / 1000;
  const d = (k) => Math.max(0, b[k] - a[k]);
  const total = d('accepted') + d('rejected') + d('duplicate');
  const pct = (n) => (total > 0 ? (100 * n) / total : 0);
  const commits = d('commits');
  return {
    accepted: d('accepted') / dt, rejected: d('rejected') / dt, duplicate: d('duplicate') / dt,
    rejectedShare: pct(d('rejected')), quarantinedShare: pct(d('quarantined')),
    commit: commits > 0 ? (1000 * d('commitSeconds')) / commits : null,
  };
}

function sample(text) {
  const s = parse(text);
  const outcomes = byLabel(s, 'sluice_events_total', 'outcome');
  return {
    at: Date.now(),
    accepted: outcomes.get('accepted') || 0, rejected: outcomes.get('rejected') || 0, duplicate: outcomes.get('duplicate') || 0,
    quarantined: sum(s, 'sluice_quarantined_events_total'),
    commits: sum(s, 'sluice_commit_duration_seconds_count'), commitSeconds: sum(s, 'sluice_commit_duration_seconds_sum'),
    queue: sum(s, 'sluice_writer_queue_events'), head: sum(s, 'sluice_log_head_position'),
    lag: byLabel(s, 'sluice_sink_lag_events', 'sink'),
  };
}

function record(cur) {
  const r = rates(prev, cur);
  push(times, cur.at / 1000);
  const values = {
    rate: [r.accepted, r.rejected, r.duplicate],
    share: [r.rejectedShare, r.quarantinedShare],
    commit: [r.commit], queue: [cur.queue], head: [cur.head],
    lag: sinkNames.map((n) => cur.lag.get(n) ?? null),
  };
  for (const [id, vs] of Object.entries(values)) {
    if (!columns.has(id)) columns.set(id, vs.map(() => times.slice(0, -1).map(() => null)));
    columns.get(id).forEach((col, i) => push(col, vs[i]));
  }
  const fmt = (n, d = 0) => (n == null ? '–' : n.toLocaleString(undefined, { maximumFractionDigits: d }));
  $('fig-rate').textContent = `${fmt(r.accepted, 1)} /s`;
  $('fig-bad').textContent = `${fmt(r.rejectedShare, 1)} % / ${fmt(r.quarantinedShare, 1)} %`;
  $('fig-commit').textContent = r.commit == null ? '–' : `${fmt(r.commit, 2)} ms`;
  $('fig-queue').textContent = fmt(cur.queue);
  $('fig-head').textContent = fmt(cur.head);
}

// lagSpec is the chart of every sink's lag, once sinks exist.
function lagSpec() {
  const colors = ['#2563eb', '#b42318', '#067647', '#f79009', '#9e77ed', '#5d6b79'];
  return { id: 'lag', title: 'Sink lag, events', series: sinkNames.map((n, i) => [n, colors[i % colors.length]]) };
}

// widthOf is the width a chart may take in its box (the grid sizes boxes
// to the screen).
function widthOf(box) {
  return Math.max(200, box.clientWidth - 12);
}

function draw() {
  $('charts').dataset.points = String(times.length);
  if (!visible || times.length < 2) return;
  const all = sinkNames.length ? [...specs, lagSpec()] : specs;
  for (const spec of all) {
    const data = [times, ...columns.get(spec.id)];
    let chart = charts.get(spec.id);
    if (chart && chart.series.length !== data.length) {
      chart.root.parentElement.remove();
      chart.destroy();
      chart = null;
    }
    if (!chart) {
      const box = document.createElement('div');
      box.className = 'chart';
      box.dataset.chart = spec.id;
      $('charts').append(box);
      chart = new uPlot({
        title: spec.title, width: widthOf(box), height: 180,
        scales: { x: { time: true } },
        series: [{}, ...spec.series.map(([label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: true }))],
        legend: { live: false },
      }, data, box);
      charts.set(spec.id, chart);
    } else {
      const width = widthOf(chart.root.parentElement);
      if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 180 });
      chart.setData(data);
    }
  }
}

async function tick() {
  if (!session.key) return;
  try {
    const cur = sample(await (await request('/metrics')).text());
    const names = [...cur.lag.keys()].sort();
    if (names.join('\n') !== sinkNames.join('\n')) {
      sinkNames = names;
      columns.delete('lag'); // a new set of sinks: the lag chart starts again
    }
    if (prev) record(cur);
    prev = cur;
    draw();
  } catch {
    prev = null; // a gap, not a false rate across it
  }
}

// start samples every second from now on, whatever page is shown.
export function start() {
  if (!timer) timer = setInterval(tick, 1000);
  tick();
}

export function stop() {
  prev = null;
}

export function show() {
  visible = true;
  draw();
}

export function hide() {
  visible = false;
}
