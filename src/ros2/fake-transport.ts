/**
 * FakeTransport: an in-memory stand-in for a ROS 2 graph, for tests only. It is a fake: no discovery, no network, no
 * rclnodejs. It does push every message through CDR (encode, then decode) as a wire would, and delivers it
 * asynchronously (a macrotask later), so subscribers see what a real transport would hand them. QoS depth is honoured
 * per subscription: with depth 1 a subscriber that falls behind sees only the newest message.
 */
import { codecFor, SERVICE_PARTS, type MessageTypeName, type MessageTypes, type ServiceTypeName, type ServiceTypes } from './messages.ts';
import type { Closable, Publisher, QosProfile, Ros2Transport, ServiceClient, ServiceHandler } from './transport.ts';

interface Sub {
  type: MessageTypeName;
  depth: number;
  queue: Uint8Array[];
  scheduled: boolean;
  cb: (msg: unknown) => void;
  closed: boolean;
}

export class FakeTransport implements Ros2Transport {
  readonly name = 'fake';
  private readonly subs = new Map<string, Set<Sub>>();
  private readonly types = new Map<string, MessageTypeName>();
  private readonly services = new Map<string, (req: unknown) => Promise<unknown>>();
  /** Every message published, by topic (CDR bytes), for assertions. */
  readonly published = new Map<string, Uint8Array[]>();
  /** Messages a depth-limited subscriber never saw because a newer one replaced them. */
  dropped = 0;
  private closed = false;

  private checkType(topic: string, type: MessageTypeName): void {
    const known = this.types.get(topic);
    if (known && known !== type) throw new Error(`FakeTransport: topic ${topic} already has type ${known}, not ${type}`);
    this.types.set(topic, type);
  }

  createPublisher<K extends MessageTypeName>(topic: string, type: K, _qos: QosProfile): Publisher<MessageTypes[K]> {
    this.checkType(topic, type);
    const codec = codecFor(type);
    return {
      publish: (msg) => {
        if (this.closed) return;
        const bytes = codec.encode(msg);
        let log = this.published.get(topic);
        if (!log) this.published.set(topic, (log = []));
        log.push(bytes);
        for (const s of this.subs.get(topic) ?? []) this.enqueue(s, bytes);
      },
      matched: () => this.subs.get(topic)?.size ?? 0,
      close: () => undefined,
    };
  }

  private enqueue(s: Sub, bytes: Uint8Array): void {
    s.queue.push(bytes);
    if (s.queue.length > s.depth) {
      s.queue.shift();
      this.dropped++;
    }
    if (s.scheduled) return;
    s.scheduled = true;
    setImmediate(() => {
      s.scheduled = false;
      const codec = codecFor(s.type);
      while (!s.closed && s.queue.length > 0) s.cb(codec.decode(s.queue.shift() as Uint8Array));
    });
  }

  subscribe<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile, onMessage: (msg: MessageTypes[K]) => void): Closable {
    this.checkType(topic, type);
    const s: Sub = { type, depth: qos.depth, queue: [], scheduled: false, cb: onMessage as (m: unknown) => void, closed: false };
    let set = this.subs.get(topic);
    if (!set) this.subs.set(topic, (set = new Set()));
    set.add(s);
    return {
      close: () => {
        s.closed = true;
        set.delete(s);
      },
    };
  }

  createService<S extends ServiceTypeName>(name: string, type: S, handler: ServiceHandler<S>): Closable {
    if (this.services.has(name)) throw new Error(`FakeTransport: service ${name} already exists`);
    const parts = SERVICE_PARTS[type];
    this.services.set(name, async (reqBytes) => {
      const req = codecFor(parts.request).decode(reqBytes as Uint8Array) as ServiceTypes[S]['request'];
      return codecFor(parts.response).encode(await handler(req));
    });
    return { close: () => void this.services.delete(name) };
  }

  createClient<S extends ServiceTypeName>(name: string, type: S): ServiceClient<S> {
    const parts = SERVICE_PARTS[type];
    return {
      call: async (req) => {
        const h = this.services.get(name);
        if (!h) throw new Error(`FakeTransport: no service ${name}`);
        const out = (await h(codecFor(parts.request).encode(req))) as Uint8Array;
        return codecFor(parts.response).decode(out) as ServiceTypes[S]['response'];
      },
      close: () => undefined,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.subs.values()) for (const s of set) s.closed = true;
    this.subs.clear();
    this.services.clear();
  }
}
