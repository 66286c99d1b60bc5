// Quarantine: the rejected events with their errors, page by page; select
// some and replay them against today's schemas.
import { json } from './api.js';
import { cells, when } from './table.js';

const pageSize = 100;
const $ = (id) => document.getElementById(id);

let next = 0; // the seq to list after

function selected() {
  return [...$('quarantine-rows').querySelectorAll('input:checked')].map((c) => c.value);
}

function update() {
  $('quarantine-replay').disabled = selected().length === 0;
}

function errors(list) {
  return (list || []).map((v) => `${v.path || '/'}: ${v.message}`).join('\n');
}

async function load(more = false) {
  if (!more) {
    next = 0;
    $('quarantine-rows').replaceChildren();
    $('quarantine-all').checked = false;
  }
  const q = new URLSearchParams({ after: String(next), limit: String(pageSize) });
  const type = $('quarantine-type').value.replace(/\s+/g, '');
  if (type) q.set('type', type);
  const page = await json(`/v1/quarantine?${q}`);
  for (const item of page.events) {
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = item.event.id;
    box.addEventListener('change', update);
    const tr = cells(box, item.event.type, item.event.id, item.key, when(item.quarantined_at), errors(item.reasons));
    tr.dataset.id = item.event.id;
    $('quarantine-rows').append(tr);
  }
  next = page.next_after;
  $('quarantine-more').hidden = page.events.length < pageSize;
  update();
}

function fail(e) {
  $('quarantine-error').textContent = e.message;
}

$('quarantine-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  load().catch(fail);
});

$('quarantine-more').addEventListener('click', () => load(true).catch(fail));

$('quarantine-all').addEventListener('change', () => {
  for (const c of $('quarantine-rows').querySelectorAll('input')) c.checked = $('quarantine-all').checked;
  update();
});

$('quarantine-replay').addEventListener('click', async () => {
  $('quarantine-error').textContent = '';
  try {
    const r = await json('/v1/quarantine/replay', { method: 'POST', body: { ids: selected() } });
    const lines = [`Replayed ${r.replayed}, already stored ${r.duplicates}, still failing ${r.failed.length}.`];
    for (const f of r.failed) lines.push(`${f.type} ${f.id}: ${errors(f.errors).replace(/\n/g, '; ')}`);
    $('quarantine-result').textContent = lines.join('\n');
    await load();
  } catch (e) {
    fail(e);
  }
});

export function show() {
  $('quarantine-result').textContent = '';
  $('quarantine-error').textContent = '';
  load().catch(fail);
}
