// The console's shell: log in, the pages by URL fragment, log out.
import { session, json } from './api.js';
import * as overview from './overview.js';
import * as tail from './tail.js';
import * as keys from './keys.js';
import * as schemas from './schemas.js';
import * as quarantine from './quarantine.js';
import * as streams from './streams.js';
import * as delivery from './delivery.js';

const pages = { overview, tail, keys, schemas, quarantine, streams, delivery };
let current = null;

const $ = (id) => document.getElementById(id);

// check logs in with key: the admin-only key list must answer.
async function check(key) {
  session.key = key;
  try {
    await json('/v1/keys');
  } catch (e) {
    session.key = null;
    throw e;
  }
}

function showLogin(message = '') {
  for (const p of Object.values(pages)) p.stop?.();
  current = null;
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-key').focus();
}

function route() {
  if (!session.key) return showLogin();
  $('login').hidden = true;
  $('app').hidden = false;
  const name = location.hash.slice(1) in pages ? location.hash.slice(1) : 'overview';
  if (current === name) return;
  if (current) pages[current].hide?.();
  current = name;
  for (const id of Object.keys(pages)) $(id).hidden = id !== name;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.hash === `#${name}`);
  pages[name].show();
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await check($('login-key').value.trim());
    $('login-key').value = '';
    route();
  } catch (e) {
    $('login-error').textContent = e.status === 401 || e.status === 403 ? 'That is not an admin key of this sluice.' : e.message;
  }
});

$('logout').addEventListener('click', () => {
  session.key = null;
  showLogin();
});

window.addEventListener('sluice:unauthorized', () => {
  if (!session.key) return; // logging in: the form says why
  session.key = null;
  showLogin('This sluice no longer knows the key: log in again.');
});

window.addEventListener('hashchange', route);
// The overview samples in the background from the start: its history
// grows while other pages are open.
overview.start();
route();
