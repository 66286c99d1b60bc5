// The public API of the sluice that served the console, with the admin key
// kept in this tab's sessionStorage.

const keyName = 'sluice.adminKey';

export const session = {
  get key() { return sessionStorage.getItem(keyName); },
  set key(k) { if (k) sessionStorage.setItem(keyName, k); else sessionStorage.removeItem(keyName); },
};

// ApiError is an answer other than 2xx: the problem+json the server sent.
export class ApiError extends Error {
  constructor(status, problem) {
    super(describe(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

// describe makes one readable text of a problem: its title, detail and
// every error it lists, one a line.
function describe(status, p) {
  if (!p || typeof p !== 'object') return `HTTP ${status}`;
  const lines = [[p.title, p.detail].filter(Boolean).join(': ') || `HTTP ${status}`];
  for (const e of p.errors || []) lines.push(`${e.path || ''} ${e.message || JSON.stringify(e)}`.trim());
  return lines.join('\n');
}

// request sends one call with the admin key and returns the response,
// throwing ApiError when it is not 2xx.
export async function request(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, signal, headers: { Authorization: `Bearer ${session.key}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] ??= 'application/json';
  }
  const resp = await fetch(path, init);
  // The key is no longer known (revoked, or the server's keys changed):
  // the shell asks for one again.
  if (resp.status === 401) window.dispatchEvent(new Event('sluice:unauthorized'));
  if (!resp.ok) {
    let problem = null;
    try { problem = await resp.json(); } catch { /* not JSON */ }
    throw new ApiError(resp.status, problem);
  }
  return resp;
}

// json sends one call and decodes its JSON answer.
export async function json(path, opts) {
  return (await request(path, opts)).json();
}
