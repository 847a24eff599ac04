/** Shared by the tests that speak HTTP to a real daemon app (fastify on port 0): requests and server-sent events. */
import assert from 'node:assert/strict';
import { TOKEN } from '../daemon/helpers.ts';

/** A caller with the token, sending JSON. */
export const AUTH: Readonly<Record<string, string>> = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** Where a request goes: a base URL, or an app listening on port 0. */
type Target = string | { app: { url: string | null } };
const baseOf = (to: Target): string => (typeof to === 'string' ? to : (to.app.url ?? assert.fail('the app is not listening')));

/**
 * One request; a body that is not a string is sent as JSON. The reply is parsed as JSON where it is JSON (`json`), and
 * kept as text (`text`).
 */
export async function call(
  to: Target,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies differ by route; tests assert field by field
): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${baseOf(to)}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json, text };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads differ by event; tests assert on the fields they need
export type SseEvent = { event: string; data: any };

/**
 * Reads server-sent events from `url` until `until` holds for the newest one (it is given all seen so far too), or
 * the timeout; returns every event seen.
 */
export async function readSse(
  url: string,
  until: (event: string, data: SseEvent['data'], seen: SseEvent[]) => boolean,
  timeoutMs = 20_000,
): Promise<SseEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const seen: SseEvent[] = [];
  try {
    const res = await fetch(url, { signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!ev || data === undefined) continue;
        const parsed: unknown = JSON.parse(data);
        seen.push({ event: ev, data: parsed });
        if (until(ev, parsed, seen)) return seen;
      }
    }
  } catch (e) {
    // The timeout: the caller asserts on what was seen.
    if ((e as Error).name !== 'AbortError') throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return seen;
}
