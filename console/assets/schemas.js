// Schemas: list, view a type's latest version, upload a new version with
// the server's compile errors shown in place.
import { json } from './api.js';
import { cells, when } from './table.js';

const $ = (id) => document.getElementById(id);

async function view(type) {
  const s = await json(`/v1/schemas/${encodeURIComponent(type)}`);
  $('schema-type').value = s.type;
  $('schema-doc').value = JSON.stringify(s.schema, null, 2);
  $('schema-error').textContent = '';
  $('schema-ok').textContent = `Version ${s.version} of ${s.type}, registered ${when(s.created_at)}.`;
}

async function load() {
  const { schemas } = await json('/v1/schemas');
  $('schema-rows').replaceChildren(...schemas.map((s) => {
    const tr = cells(s.type, s.version, when(s.created_at));
    tr.className = 'click';
    tr.dataset.type = s.type;
    tr.addEventListener('click', () => view(s.type).catch((e) => { $('schema-error').textContent = e.message; }));
    return tr;
  }));
}

$('schema-upload').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('schema-error').textContent = '';
  $('schema-ok').textContent = '';
  const type = $('schema-type').value.trim();
  try {
    // Sent as typed: the server says what is wrong with it, JSON included.
    const s = await json(`/v1/schemas/${encodeURIComponent(type)}`, { method: 'PUT', body: $('schema-doc').value });
    $('schema-ok').textContent = `Registered: ${s.type} version ${s.version}.`;
    await load();
  } catch (e) {
    $('schema-error').textContent = e.message;
  }
});

export function show() {
  load().catch((e) => { $('schema-error').textContent = e.message; });
}
