/**
 * The DDS-wire transport: ROS 2's wire format without a ROS installation. Topics `rt/<name>`, types
 * `pkg::msg::dds_::Type_`, XCDR1 samples encoded by ./messages.ts, carried by Cyclone DDS through the project's native
 * shim (native/dds, built by scripts/install-system-deps.sh). Services follow rmw_cyclonedds' conventions: requests on
 * `rq/<name>Request`, replies on `rr/<name>Reply`, each sample prefixed by the client's 64-bit id and a sequence number,
 * so a ROS 2 node on rmw_cyclonedds can call them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { codecFor, ddsTopicName, SERVICE_PARTS, type MessageTypeName, type MessageTypes, type ServiceTypeName, type ServiceTypes } from './messages.ts';
import {
  TransportUnavailableError,
  type Closable,
  type Publisher,
  type QosProfile,
  type Ros2Transport,
  type ServiceClient,
  type ServiceHandler,
} from './transport.ts';

/** The addon's surface (native/dds/shim.c). Handles are opaque externals. */
export interface Shim {
  open(domainId: number): number;
  writer(pp: number, topic: string, type: string, reliable: number, transientLocal: number, depth: number): object;
  write(w: object, bytes: Uint8Array): void;
  reader(pp: number, topic: string, type: string, reliable: number, transientLocal: number, depth: number, onData: () => void): object;
  take(r: object): Uint8Array[];
  matched(e: object, isReader: number): number;
  closeWriter(w: object): void;
  closeReader(r: object): void;
  close(pp: number): void;
  types(): string[];
}

export const ROOT = resolve(import.meta.dirname, '../..');
export const SHIM_PATH = resolve(ROOT, 'native/dds/build/Release/dds_shim.node');
export const LOOPBACK_CONFIG = resolve(ROOT, 'config/cyclonedds-loopback.xml');
const HOW =
  'run `bash scripts/install-system-deps.sh` (installs cyclonedds-dev and cyclonedds-tools from Debian and builds native/dds), or choose another transport';

let shim: Shim | null = null;

/** Loads the native shim once; a clear TransportUnavailableError when it is not built or Cyclone DDS is missing. */
export function loadShim(path = SHIM_PATH): Shim {
  if (shim && path === SHIM_PATH) return shim;
  if (!existsSync(path)) throw new TransportUnavailableError(`ros2 backend, transport 'dds': the DDS shim is not built (${path} missing): ${HOW}`);
  try {
    const s = createRequire(import.meta.url)(path) as Shim;
    if (path === SHIM_PATH) shim = s;
    return s;
  } catch (e) {
    throw new TransportUnavailableError(`ros2 backend, transport 'dds': cannot load the DDS shim (${(e as Error).message.split('\n')[0]}): ${HOW}`);
  }
}

/** Whether the DDS transport can run here (for tests that skip with a reason). */
export function ddsAvailable(): { ok: true } | { ok: false; reason: string } {
  try {
    loadShim();
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * Loopback-only discovery unless the operator has chosen a Cyclone DDS configuration: sets CYCLONEDDS_URI for this
 * process. Cyclone reads the process environment, so a control thread's participant needs this done on the main thread
 * before the thread starts (a worker's process.env is its own copy).
 */
export function applyLoopbackDefault(loopbackOnly: boolean): void {
  if (loopbackOnly && !process.env.CYCLONEDDS_URI) process.env.CYCLONEDDS_URI = `file://${LOOPBACK_CONFIG}`;
}

export interface DdsTransportOptions {
  /** DDS domain = ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID or 0). */
  domainId?: number;
  /**
   * Loopback-only discovery (config/cyclonedds-loopback.xml: no multicast, unicast peer 127.0.0.1). Sets CYCLONEDDS_URI
   * for this process unless it is already set. Default true: nothing leaves the machine unless the operator configures it.
   */
  loopbackOnly?: boolean;
  /** Called with a decode error on an incoming sample (the sample is dropped). */
  onError?: (topic: string, err: Error) => void;
  /** Tests only: a fake of the native shim, for races real discovery cannot be made to show on demand. */
  shim?: Shim;
  /** How long a service waits for its reply writer to discover a new client's reader before replying anyway (ms). */
  replyMatchWaitMs?: number;
}

const SERVICE_QOS = { reliable: 1, transientLocal: 0, depth: 10 };
/** Only a caller that never matches waits this long, so it can be generous to a loaded machine (rmw_cyclonedds: 100 ms). */
const REPLY_MATCH_WAIT_MS = 2000;

function flags(q: QosProfile): [number, number, number] {
  return [q.reliability === 'reliable' ? 1 : 0, q.durability === 'transient_local' ? 1 : 0, q.depth];
}

/** Request/reply samples: CDR header, client id (8 bytes), sequence number (8 bytes), then the body's fields. */
export function wrap(clientId: Uint8Array, seq: bigint, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(20 + body.length - 4);
  out.set(body.subarray(0, 4), 0);
  out.set(clientId, 4);
  new DataView(out.buffer).setBigInt64(12, seq, true);
  // The body's fields start at stream offset 16 (8-aligned), so its own alignment is unchanged.
  out.set(body.subarray(4), 20);
  return out;
}

export function unwrap(bytes: Uint8Array): { clientId: Uint8Array; seq: bigint; body: Uint8Array } {
  if (bytes.length < 20) throw new Error(`service sample of ${bytes.length} bytes lacks the request header`);
  const body = new Uint8Array(bytes.length - 16);
  body.set(bytes.subarray(0, 4), 0);
  body.set(bytes.subarray(20), 4);
  return { clientId: bytes.slice(4, 12), seq: new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(12, true), body };
}

export class DdsTransport implements Ros2Transport {
  readonly name = 'dds';
  private readonly s: Shim;
  private readonly pp: number;
  private readonly closers = new Set<() => void>();
  private closed = false;

  constructor(private readonly opts: DdsTransportOptions = {}) {
    applyLoopbackDefault(opts.loopbackOnly !== false);
    this.s = opts.shim ?? loadShim();
    const domain = opts.domainId ?? Number(process.env.ROS_DOMAIN_ID ?? 0);
    if (!Number.isInteger(domain) || domain < 0 || domain > 232) throw new Error(`dds transport: domain id ${domain} (ROS_DOMAIN_ID) must be 0..232`);
    this.pp = this.s.open(domain);
  }

  private track(close: () => void): () => void {
    this.closers.add(close);
    return () => {
      if (this.closers.delete(close)) close();
    };
  }

  createPublisher<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile): Publisher<MessageTypes[K]> {
    const codec = codecFor(type);
    const w = this.s.writer(this.pp, ddsTopicName(topic), codec.ddsType, ...flags(qos));
    const close = this.track(() => this.s.closeWriter(w));
    return {
      publish: (msg) => this.s.write(w, codec.encode(msg)),
      matched: () => this.s.matched(w, 0),
      close,
    };
  }

  /** Raw CDR publish (tests: byte-exact interop). */
  createRawPublisher(ddsTopic: string, ddsType: string, qos: QosProfile): { publish(bytes: Uint8Array): void; matched(): number; close(): void } {
    const w = this.s.writer(this.pp, ddsTopic, ddsType, ...flags(qos));
    return { publish: (b) => this.s.write(w, b), matched: () => this.s.matched(w, 0), close: this.track(() => this.s.closeWriter(w)) };
  }

  /** Raw CDR subscription (tests: byte-exact interop). */
  subscribeRaw(ddsTopic: string, ddsType: string, qos: QosProfile, onSample: (bytes: Uint8Array) => void): Closable & { matched(): number } {
    const r: object = this.s.reader(this.pp, ddsTopic, ddsType, ...flags(qos), () => {
      for (const b of this.s.take(r)) onSample(b);
    });
    return { close: this.track(() => this.s.closeReader(r)), matched: () => this.s.matched(r, 1) };
  }

  subscribe<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile, onMessage: (msg: MessageTypes[K]) => void): Closable {
    const codec = codecFor(type);
    return this.subscribeRaw(ddsTopicName(topic), codec.ddsType, qos, (bytes) => {
      let msg: MessageTypes[K];
      try {
        msg = codec.decode(bytes);
      } catch (e) {
        this.opts.onError?.(topic, e as Error);
        return;
      }
      onMessage(msg);
    });
  }

  createService<S extends ServiceTypeName>(name: string, type: S, handler: ServiceHandler<S>): Closable {
    const parts = SERVICE_PARTS[type];
    const reqCodec = codecFor(parts.request);
    const resCodec = codecFor(parts.response);
    const q = SERVICE_QOS;
    const w = this.s.writer(this.pp, ddsTopicName(name, 'reply'), resCodec.ddsType, q.reliable, q.transientLocal, q.depth);
    const closeW = this.track(() => this.s.closeWriter(w));
    const sub = this.subscribeRaw(
      ddsTopicName(name, 'request'),
      reqCodec.ddsType,
      { reliability: 'reliable', durability: 'volatile', depth: q.depth },
      (bytes) => {
        let req: ReturnType<typeof unwrap>;
        try {
          req = unwrap(bytes);
        } catch (e) {
          this.opts.onError?.(name, e as Error);
          return;
        }
        void (async () => {
          let res: ServiceTypes[S]['response'];
          try {
            res = await handler(reqCodec.decode(req.body) as ServiceTypes[S]['request']);
          } catch (e) {
            this.opts.onError?.(name, e as Error);
            return; // as rclcpp: a failing callback sends no reply; the client times out
          }
          // Replies are volatile, and discovery is not symmetric: the client may already see this writer (so it sent
          // the request) while this writer has not yet matched the client's reader, and a reply written now would be
          // lost. Each client has one request writer and one reply reader, so reply once every request writer seen has
          // its reader matched too (as rmw_cyclonedds waits for the caller's reader), or after a bounded wait.
          const deadline = Date.now() + (this.opts.replyMatchWaitMs ?? REPLY_MATCH_WAIT_MS);
          while (!this.closed && this.s.matched(w, 0) < sub.matched() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
          if (!this.closed) this.s.write(w, wrap(req.clientId, req.seq, resCodec.encode(res)));
        })();
      },
    );
    return { close: () => (sub.close(), closeW()) };
  }

  createClient<S extends ServiceTypeName>(name: string, type: S): ServiceClient<S> {
    const parts = SERVICE_PARTS[type];
    const reqCodec = codecFor(parts.request);
    const resCodec = codecFor(parts.response);
    const q = SERVICE_QOS;
    const clientId = randomBytes(8);
    let seq = 0n;
    const pending = new Map<bigint, (res: ServiceTypes[S]['response']) => void>();
    const w = this.s.writer(this.pp, ddsTopicName(name, 'request'), reqCodec.ddsType, q.reliable, q.transientLocal, q.depth);
    const closeW = this.track(() => this.s.closeWriter(w));
    const sub = this.subscribeRaw(
      ddsTopicName(name, 'reply'),
      resCodec.ddsType,
      { reliability: 'reliable', durability: 'volatile', depth: q.depth },
      (bytes) => {
        const rep = unwrap(bytes);
        if (!Buffer.from(rep.clientId).equals(clientId)) return; // another client's reply
        const done = pending.get(rep.seq);
        if (!done) return;
        pending.delete(rep.seq);
        done(resCodec.decode(rep.body) as ServiceTypes[S]['response']);
      },
    );
    // Requests are volatile: a call waits until the server's reader and writer have been discovered.
    const discovered = async (deadline: number, timeoutMs: number): Promise<void> => {
      while (this.s.matched(w, 0) === 0 || sub.matched() === 0) {
        if (Date.now() > deadline) throw new Error(`ros2 service ${name}: no server found within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return {
      waitForServer: (timeoutMs = 5000) => discovered(Date.now() + timeoutMs, timeoutMs),
      call: async (req, timeoutMs = 5000) => {
        const deadline = Date.now() + timeoutMs;
        if (this.s.matched(w, 0) === 0 || sub.matched() === 0) await discovered(deadline, timeoutMs);
        const id = ++seq;
        return new Promise<ServiceTypes[S]['response']>((res, rej) => {
          const timer = setTimeout(
            () => {
              pending.delete(id);
              rej(new Error(`ros2 service ${name}: no reply within ${timeoutMs} ms`));
            },
            Math.max(1, deadline - Date.now()),
          );
          pending.set(id, (r) => {
            clearTimeout(timer);
            res(r);
          });
          this.s.write(w, wrap(clientId, id, reqCodec.encode(req)));
        });
      },
      close: () => (sub.close(), closeW()),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.closers]) c();
    this.closers.clear();
    this.s.close(this.pp);
  }
}
