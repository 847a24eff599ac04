/**
 * Talking to the daemon: reads, and state-changing actions with the bearer token. The token is asked for once and kept in
 * sessionStorage (gone when the tab closes); it travels only in the Authorization header, never in a URL.
 */

const TOKEN_KEY = 'insertion-daemon.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** A tiny observable value for state shared outside the component tree (notices, token prompt). */
export class Box<T> {
  private subs = new Set<(v: T) => void>();
  constructor(private v: T) {}
  get value(): T {
    return this.v;
  }
  set(v: T): void {
    this.v = v;
    for (const s of this.subs) s(v);
  }
  subscribe(fn: (v: T) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }
}

export interface Notice {
  id: number;
  kind: 'ok' | 'error' | 'warn';
  text: string;
}

export const notices = new Box<Notice[]>([]);
let noticeId = 0;

export function notify(kind: Notice['kind'], text: string): void {
  const n = { id: ++noticeId, kind, text };
  notices.set([...notices.value.slice(-4), n]);
  // Errors stay until dismissed: an operator must not miss a refusal.
  if (kind === 'ok') setTimeout(() => dismiss(n.id), 6000);
}

export function dismiss(id: number): void {
  notices.set(notices.value.filter((n) => n.id !== id));
}

/** The pending token request (the TokenDialog answers it), or null. */
export const tokenRequest = new Box<{ action: string; answer: (t: string | null) => void } | null>(null);
/** Whether a token is held (for the header). */
export const hasToken = new Box<boolean>(token.get() !== null);

function askToken(action: string): Promise<string | null> {
  return new Promise((resolve) => {
    tokenRequest.set({
      action,
      answer: (t) => {
        tokenRequest.set(null);
        if (t) {
          token.set(t);
          hasToken.set(true);
        }
        resolve(t);
      },
    });
  });
}

export function forgetToken(): void {
  token.clear();
  hasToken.set(false);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function messageOf(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (typeof j.message === 'string') return j.message;
  } catch {
    // not JSON
  }
  return text.slice(0, 300) || res.statusText;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
  if (!res.ok) throw new HttpError(res.status, `${path}: ${res.status} ${await messageOf(res)}`);
  return (await res.json()) as T;
}

export interface ActionResult<T = unknown> {
  ok: boolean;
  status: number;
  body: T | null;
  message: string;
}

/**
 * POSTs a state-changing action with the token (asking for it first if none is held). Every outcome is told on the page:
 * a refusal names the daemon's reason; a 401/403 forgets the token so the next action asks again.
 */
export async function act<T = unknown>(label: string, path: string, body: unknown = {}): Promise<ActionResult<T>> {
  let t = token.get();
  if (!t) {
    t = await askToken(label);
    if (!t) {
      notify('error', `${label}: not sent. This action needs the daemon's API token.`);
      return { ok: false, status: 0, body: null, message: 'no token' };
    }
  }
  let res: Response;
  try {
    res = await fetch(path, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (e) {
    notify('error', `${label}: the daemon did not answer (${(e as Error).message}).`);
    return { ok: false, status: 0, body: null, message: (e as Error).message };
  }
  if (res.ok) {
    const j = (await res.json().catch(() => null)) as T | null;
    notify('ok', `${label}: done.`);
    return { ok: true, status: res.status, body: j, message: 'ok' };
  }
  const msg = await messageOf(res);
  if (res.status === 401 || res.status === 403) {
    forgetToken();
    notify('error', `${label} refused by the daemon (${res.status}): ${msg}. Enter the token again on the next action.`);
  } else {
    notify('error', `${label} refused by the daemon (${res.status}): ${msg}`);
  }
  return { ok: false, status: res.status, body: null, message: msg };
}

let lastEstop = 0;

/**
 * The e-stop needs no token and must not wait for anything: fire at once (on press, like a physical button; the click
 * that follows, or a keyboard activation, is folded into the same request), report after. With `listenerUrl` (the
 * daemon's e-stop listener, /status extra.api.estopUrl) the same request also goes there: its own thread answers it
 * while the API's thread is busy. That is another port, so no-cors: its answer is opaque, the API's is read.
 */
export async function estop(listenerUrl: string | null = null): Promise<void> {
  const now = Date.now();
  if (now - lastEstop < 1000) return;
  lastEstop = now;
  if (window.__dashboard) window.__dashboard.estopSentAt = now;
  if (listenerUrl) void fetch(listenerUrl, { method: 'POST', mode: 'no-cors', keepalive: true }).catch(() => undefined);
  try {
    const res = await fetch('/estop', {
      method: 'POST',
      keepalive: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ detail: 'dashboard e-stop button' }),
    });
    if (res.ok) notify('warn', 'E-stop engaged. The arm is held; reset needs the token once the cause is cleared.');
    else notify('error', `E-stop request answered ${res.status}: ${await messageOf(res)}. Use the physical e-stop.`);
  } catch (e) {
    notify('error', `E-stop request failed (${(e as Error).message}). Use the physical e-stop.`);
  }
}
