// Keys: list, create (the secret shown once), revoke.
import { json } from './api.js';
import { cells, button, when } from './table.js';

const $ = (id) => document.getElementById(id);

function error(text) {
  $('key-error').textContent = text;
}

// revoker is the Revoke button of a key: a first click asks, a second
// revokes.
function revoker(key) {
  const b = button('Revoke', async () => {
    if (b.dataset.armed !== 'true') {
      b.dataset.armed = 'true';
      b.textContent = `Revoke ${key.name}?`;
      return;
    }
    try {
      await json(`/v1/keys/${encodeURIComponent(key.name)}`, { method: 'DELETE' });
      error('');
      await load();
    } catch (e) {
      error(e.message);
    }
  }, 'plain');
  return b;
}

async function load() {
  const { keys } = await json('/v1/keys');
  $('key-rows').replaceChildren(...keys.map((k) => {
    const revocable = !k.bootstrap && !k.revoked_at;
    const tr = cells(k.name, k.role, k.bootstrap ? `${k.source} (bootstrap)` : k.source, (k.origins || []).join(', '),
      when(k.created_at), k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'in use', revocable ? revoker(k) : '');
    tr.dataset.key = k.name;
    return tr;
  }));
}

$('key-create').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const origins = $('key-origins').value.split(',').map((s) => s.trim()).filter(Boolean);
  const body = { name: $('key-name').value.trim(), role: $('key-role').value };
  if (origins.length) body.origins = origins;
  try {
    const k = await json('/v1/keys', { method: 'POST', body });
    error('');
    $('key-secret-name').textContent = k.name;
    $('key-secret-value').textContent = k.secret;
    $('key-secret').hidden = false;
    $('key-create').reset();
    await load();
  } catch (e) {
    error(e.message);
  }
});

export function show() {
  load().catch((e) => error(e.message));
}

export function stop() {
  // The secret is shown once: it goes with the page.
  $('key-secret').hidden = true;
  $('key-secret-value').textContent = '';
}

export const hide = stop;
