// Talks to the cloud API with the bearer token the operator opened the console with
// (`/?token=…`, kept in sessionStorage and removed from the address bar).
const KEY = 'edgekd.token';

export function token() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? `${body.code}: ${body.message}` : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export async function api(path, options = {}) {
  const headers = { authorization: `Bearer ${token()}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method: options.method || 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/**
 * Server-Sent Events with the token in the query (EventSource cannot send headers). Returns the
 * EventSource; the caller closes it when the page changes.
 */
export function stream(path, handlers) {
  const es = new EventSource(`${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token() || '')}`);
  for (const [type, fn] of Object.entries(handlers)) es.addEventListener(type, (e) => fn(JSON.parse(e.data), e));
  es.addEventListener('end', () => es.close());
  return es;
}
