// Live tail: GET /v1/events/live read with fetch (EventSource cannot send
// the key in a header), with type and stream filters, pause and resume; a
// click on a row opens the event's JSON.
import { request } from './api.js';
import { parse, sum } from './metrics.js';
import { showJSON } from './table.js';

const backlog = 20; // events before the head shown when the tail opens
const maxRows = 500;
const $ = (id) => document.getElementById(id);

let abort = null; // stops the stream in flight
let last = null; // the position of the last event received
let paused = false;

function state(text) {
  $('tail-state').textContent = text;
}

function row(ev) {
  const tr = document.createElement('tr');
  tr.className = 'click';
  for (const v of [ev.position, ev.type, ev.stream, ev.recorded_at]) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  tr.addEventListener('click', () => showJSON(ev));
  const rows = $('tail-rows');
  rows.prepend(tr);
  while (rows.children.length > maxRows) rows.lastChild.remove();
}

// messages yields the data and id of each Server-Sent Event of body.
async function* messages(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const msg = { id: null, data: [] };
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) msg.id = line.slice(3).trim();
        else if (line.startsWith('data:')) msg.data.push(line.slice(5).replace(/^ /, ''));
      }
      if (msg.data.length) yield msg;
    }
  }
}

async function headPosition() {
  return sum(parse(await (await request('/metrics')).text()), 'sluice_log_head_position');
}

// open reads the tail after the last event received (or just before the
// head), reconnecting after a second when the stream ends.
async function open() {
  close();
  const ctl = new AbortController();
  abort = ctl;
  try {
    if (last == null) last = Math.max(0, (await headPosition()) - backlog);
    const q = new URLSearchParams({ after: String(last) });
    const type = $('tail-type').value.trim();
    const prefix = $('tail-stream').value.trim();
    if (type) q.set('type', type.replace(/\s+/g, ''));
    if (prefix) q.set('stream_prefix', prefix);
    const resp = await request(`/v1/events/live?${q}`, { signal: ctl.signal });
    state('live');
    for await (const msg of messages(resp.body)) {
      const ev = JSON.parse(msg.data.join('\n'));
      last = ev.position;
      row(ev);
    }
    state('reconnecting…');
  } catch (e) {
    if (ctl.signal.aborted) return;
    state(`reconnecting: ${e.message}`);
  }
  if (abort === ctl) setTimeout(() => { if (abort === ctl) open(); }, 1000);
}

function close() {
  abort?.abort();
  abort = null;
}

$('tail-filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  last = null; // new filters: start again just before the head
  $('tail-rows').replaceChildren();
  if (!paused) open();
});

$('tail-pause').addEventListener('click', () => {
  paused = !paused;
  $('tail-pause').textContent = paused ? 'Resume' : 'Pause';
  if (paused) {
    close();
    state('paused');
  } else {
    open(); // from the last event received: nothing is missed
  }
});

export function show() {
  if (!paused) open();
}

export function hide() {
  close();
}

export function stop() {
  close();
  last = null;
  $('tail-rows').replaceChildren();
}
