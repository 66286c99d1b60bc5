// Streams: the list by name with a prefix search, and one stream read page
// by page (a click on an event opens its JSON).
import { json } from './api.js';
import { cells, showJSON, when } from './table.js';

const pageSize = 20;
const $ = (id) => document.getElementById(id);

let moreStreams = null; // the URL of the next page of streams
let nextEvents = null; // the URL of the stream's next page of events

function fail(e) {
  $('stream-error').textContent = e.message;
}

async function list(url) {
  const page = await json(url);
  for (const s of page.streams) {
    const tr = cells(s.stream, s.version, s.last_position);
    tr.className = 'click';
    tr.dataset.stream = s.stream;
    tr.addEventListener('click', () => open(s.stream).catch(fail));
    $('stream-rows').append(tr);
  }
  moreStreams = page.next;
  $('stream-more').hidden = !page.next;
}

async function read(url) {
  const page = await json(url);
  for (const ev of page.events) {
    const tr = cells(ev.version, ev.type, ev.position, when(ev.recorded_at));
    tr.className = 'click';
    tr.addEventListener('click', () => showJSON(ev));
    $('stream-event-rows').append(tr);
  }
  nextEvents = page.events.length === pageSize ? page.next : null; // a short page is the end
  $('stream-next').hidden = !nextEvents;
}

async function open(stream) {
  $('stream-error').textContent = '';
  $('stream-name').textContent = stream;
  $('stream-event-rows').replaceChildren();
  $('stream-events').hidden = false;
  await read(`/v1/streams/${encodeURIComponent(stream)}/events?limit=${pageSize}`);
}

function search() {
  $('stream-error').textContent = '';
  $('stream-rows').replaceChildren();
  const q = new URLSearchParams({ limit: String(pageSize) });
  const prefix = $('stream-prefix').value.trim();
  if (prefix) q.set('prefix', prefix);
  list(`/v1/streams?${q}`).catch(fail);
}

$('stream-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  search();
});
$('stream-more').addEventListener('click', () => list(moreStreams).catch(fail));
$('stream-next').addEventListener('click', () => read(nextEvents).catch(fail));

export function show() {
  search();
}
