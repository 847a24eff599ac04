/**
 * The e-stop listener: a worker thread that does nothing but answer `POST /estop` on its own port (config
 * api.estopPort) by setting the control thread's shared e-stop flag (thread-protocol.ts EstopFlag) and waking it.
 *
 * Why its own thread: the API's POST /estop is handled on the main thread, which also runs SQLite, model validation,
 * event streams and the trainer's supervisor; while it is busy (a 300 ms validation, a large reply) the request waits
 * in its socket. The control thread would do, but it runs the simulated cell's reset (20-90 ms of synchronous wasm):
 * a request arriving then would wait too. Here nothing else runs, so the flag is set as soon as the request arrives;
 * the control thread latches on the wake-up, and no motion command passes while the flag is pending (its guarded
 * backend checks it before every command), also in the middle of a reset.
 *
 * No token, like the API's POST /estop: stopping can only make things safer and must never be refused. The listener
 * offers nothing else (no reset, no reads); its limits (headers, connections, timeouts) keep a flood from costing more
 * than this thread. It binds api.host (loopback by default).
 */
import { readlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setPriority } from 'node:os';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { EstopFlag } from './thread-protocol.ts';

/** main -> listener: where to listen, the flag, and the port that wakes the control thread. */
export interface EstopListenerInit {
  type: 'init';
  host: string;
  port: number;
  flag: SharedArrayBuffer;
  wake: MessagePort;
  /** Nice value of this thread (the control thread's controlPriority): it sleeps but for a request, then must run. */
  nice: number | null;
}

/** listener -> main (`press`: one POST /estop answered, latched or not within CONFIRM_MS, for DaemonThread.estopListenerPresses). */
export type FromEstopListener =
  | { type: 'listening'; port: number; address: string; family: string }
  | { type: 'failed'; error: string }
  | { type: 'press'; latched: boolean; confirmMs: number };

/** How long the reply waits for the control thread to confirm the latch (ms); motion is blocked meanwhile anyway. */
const CONFIRM_MS = 1000;

if (!parentPort) throw new Error('estop-listener.ts runs as a worker thread (see src/daemon/thread.ts)');
const main = parentPort;

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function start(m: EstopListenerInit): void {
  if (m.nice !== null) {
    try {
      setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), m.nice);
    } catch {
      // Not allowed (no CAP_SYS_NICE) or not Linux: the process's priority; the control thread says so already.
    }
  }
  const flag = new EstopFlag(m.flag);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/estop') {
      req.resume();
      reply(res, 404, { statusCode: 404, error: 'Not Found', message: 'this port only takes POST /estop (the API is on api.port)' });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('allow', 'POST');
      reply(res, 405, { statusCode: 405, error: 'Method Not Allowed', message: 'POST /estop engages the e-stop' });
      return;
    }
    // Engaged on arrival: before the body (ignored) is read.
    const t0 = performance.now();
    const seq = flag.request(`REST (e-stop port) from ${req.socket.remoteAddress ?? '?'}`);
    m.wake.postMessage(seq);
    req.resume();
    void flag.waitAcknowledged(seq, CONFIRM_MS).then((latched) => {
      const ms = Math.round((performance.now() - t0) * 1000) / 1000;
      main.postMessage({ type: 'press', latched, confirmMs: ms } satisfies FromEstopListener);
      if (latched) reply(res, 200, { engaged: true, latched: true, confirmMs: ms });
      else
        reply(res, 202, {
          engaged: true,
          latched: false,
          message: `requested; the control thread has not confirmed the latch within ${CONFIRM_MS} ms (no motion command passes while it is pending)`,
        });
    });
  };
  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 5000, headersTimeout: 5000, keepAliveTimeout: 5000 }, handle);
  server.maxConnections = 64;
  server.on('clientError', (_e, socket) => socket.destroy());
  server.once('error', (e) => main.postMessage({ type: 'failed', error: e.message } satisfies FromEstopListener));
  server.listen({ host: m.host, port: m.port }, () => {
    const a = server.address() as AddressInfo;
    main.postMessage({ type: 'listening', port: a.port, address: a.address, family: a.family } satisfies FromEstopListener);
  });
}

main.once('message', (m: EstopListenerInit) => start(m));
