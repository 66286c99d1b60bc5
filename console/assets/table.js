// Small DOM helpers the pages share.

// cells returns a table row of the texts (or nodes) given.
export function cells(...values) {
  const tr = document.createElement('tr');
  for (const v of values) {
    const td = document.createElement('td');
    if (v instanceof Node) td.append(v);
    else td.textContent = v ?? '';
    tr.append(td);
  }
  return tr;
}

// button returns a button labelled text that calls onclick.
export function button(text, onclick, className = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.className = className;
  b.addEventListener('click', onclick);
  return b;
}

// when formats an RFC 3339 time in the browser's locale.
export function when(t) {
  return t ? new Date(t).toLocaleString() : '';
}

// showJSON opens v, indented, in the page's JSON dialog.
export function showJSON(v) {
  document.getElementById('json-body').textContent = JSON.stringify(v, null, 2);
  document.getElementById('json').showModal();
}
