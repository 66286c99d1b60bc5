// Subscriptions and sinks: position, lag, state and last error, refreshed
// every two seconds; a sink is paused, resumed or replayed from here.
import { json } from './api.js';
import { button, cells, when } from './table.js';

const $ = (id) => document.getElementById(id);
let timer = null;

function lag(events, seconds) {
  return seconds > 0 ? `${events} (${seconds.toFixed(1)} s)` : String(events);
}

function fail(e) {
  $('delivery-error').textContent = e.message;
}

// act posts one control of a sink and shows what it answered.
async function act(name, what, body) {
  $('delivery-error').textContent = '';
  try {
    const st = await json(`/v1/sinks/${encodeURIComponent(name)}/${what}`, { method: 'POST', body });
    const replay = st.replay ? `, replaying ${st.replay.after + 1}–${st.replay.through}` : '';
    $('delivery-result').textContent = `${name}: ${what} done (${st.paused ? 'paused' : st.state}${replay}).`;
    await load();
  } catch (e) {
    fail(e);
  }
}

// replayer is a position field and a Replay button.
function replayer(name) {
  const box = document.createElement('span');
  const from = document.createElement('input');
  from.type = 'number';
  from.min = '1';
  from.value = '1';
  from.size = 6;
  from.setAttribute('aria-label', `replay ${name} from position`);
  box.append(from, button('Replay', () => act(name, 'replay', { from_position: Number(from.value) }), 'plain'));
  return box;
}

function sinkRow(s) {
  const state = s.paused ? 'paused' : s.state;
  const replay = s.replay ? `, replaying to ${s.replay.through}` : '';
  const controls = document.createElement('span');
  controls.className = 'row';
  controls.append(s.paused ? button('Resume', () => act(s.name, 'resume')) : button('Pause', () => act(s.name, 'pause'), 'plain'), replayer(s.name));
  const err = s.last_error ? `${s.last_error} (${when(s.last_error_at)})` : '';
  const tr = cells(s.name, s.type, state + replay, `${s.position} / ${s.head}`, lag(s.lag_events, s.lag_seconds), err, controls);
  tr.dataset.sink = s.name;
  tr.dataset.state = state;
  tr.dataset.lag = String(s.lag_events);
  return tr;
}

async function load() {
  const [{ sinks }, { subscriptions }] = await Promise.all([json('/v1/sinks'), json('/v1/subscriptions')]);
  $('sink-rows').replaceChildren(...sinks.map(sinkRow));
  $('subscription-rows').replaceChildren(...subscriptions.map((s) => {
    const tr = cells(s.name, `${s.checkpoint} / ${s.head}`, lag(s.lag_events, s.lag_seconds), s.hold_seconds > 0 ? `${s.hold_seconds.toFixed(1)} s` : '', when(s.updated_at));
    tr.dataset.subscription = s.name;
    tr.dataset.lag = String(s.lag_events);
    return tr;
  }));
}

export function show() {
  $('delivery-result').textContent = '';
  $('delivery-error').textContent = '';
  load().catch(fail);
  timer ??= setInterval(() => load().catch(fail), 2000);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

export const stop = hide;
