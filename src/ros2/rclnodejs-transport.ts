/**
 * The rclnodejs transport: a workstation with a sourced ROS 2 (Humble, Jazzy). Deliberately thin: rclnodejs does the
 * serialization and the graph; this maps the transport interface onto its Node API. It is the one part that cannot run
 * on a machine without ROS 2, so rclnodejs is loaded lazily (an optional dependency) and a missing ROS 2 or rclnodejs
 * gives a TransportUnavailableError saying what to do. Its tests use FakeRclnodejs (test/ros2/rclnodejs-transport.test.ts).
 */
import type { MessageTypeName, MessageTypes, ServiceTypeName, ServiceTypes } from './messages.ts';
import {
  TransportUnavailableError,
  type Closable,
  type Publisher,
  type QosProfile,
  type Ros2Transport,
  type ServiceClient,
  type ServiceHandler,
} from './transport.ts';

/** The part of rclnodejs' API this adapter uses. */
export interface RclnodejsLike {
  init(): Promise<void>;
  shutdown(): void;
  Node: new (name: string, namespace?: string) => RclNodeLike;
  QoS: new (history: number, depth: number, reliability: number, durability: number) => unknown;
}

export interface RclNodeLike {
  createPublisher(type: string, topic: string, options?: { qos?: unknown }): { publish(msg: unknown): void; subscriptionCount?: number };
  createSubscription(type: string, topic: string, options: { qos?: unknown }, cb: (msg: unknown) => void): unknown;
  createService(type: string, name: string, options: object, cb: (req: unknown, res: { send(r: unknown): void }) => void): unknown;
  createClient(
    type: string,
    name: string,
  ): { waitForService(timeoutMs?: number): Promise<boolean>; sendRequest(req: unknown, cb: (res: unknown) => void): void };
  destroyPublisher?(p: unknown): void;
  destroySubscription?(s: unknown): void;
  destroyService?(s: unknown): void;
  destroyClient?(c: unknown): void;
  spin(): void;
  destroy(): void;
}

// rclnodejs' enums (lib/qos.js): KEEP_LAST = 1; RELIABLE = 1, BEST_EFFORT = 2; TRANSIENT_LOCAL = 1, VOLATILE = 2.
function qosFor(rcl: RclnodejsLike, q: QosProfile): unknown {
  return new rcl.QoS(1, q.depth, q.reliability === 'reliable' ? 1 : 2, q.durability === 'transient_local' ? 1 : 2);
}

const HOW =
  "source your ROS 2 setup (e.g. `source /opt/ros/humble/setup.bash` or jazzy) and `npm install rclnodejs` in this directory with it sourced; or set backend.ros2.transport to 'dds', which needs no ROS installation";

// A name, not a literal: rclnodejs is optional and absent wherever no ROS 2 is sourced, so nothing may resolve it at
// type-check time.
const RCLNODEJS: string = 'rclnodejs';

/** Loads rclnodejs, or explains precisely why it cannot. */
export async function loadRclnodejs(
  env: NodeJS.ProcessEnv = process.env,
  importer: () => Promise<unknown> = () => import(RCLNODEJS) as Promise<unknown>,
): Promise<RclnodejsLike> {
  if (!env.AMENT_PREFIX_PATH)
    throw new TransportUnavailableError(`ros2 backend, transport 'rclnodejs': no sourced ROS 2 (AMENT_PREFIX_PATH is not set): ${HOW}`);
  let mod: unknown;
  try {
    mod = await importer();
  } catch (e) {
    // Not only MODULE_NOT_FOUND: a half-built rclnodejs fails while loading its addon.
    throw new TransportUnavailableError(`ros2 backend, transport 'rclnodejs': rclnodejs cannot be loaded (${(e as Error).message.split('\n')[0]}): ${HOW}`);
  }
  const m = ((mod as { default?: unknown }).default ?? mod) as RclnodejsLike;
  if (typeof m.init !== 'function' || typeof m.Node !== 'function')
    throw new TransportUnavailableError(`ros2 backend, transport 'rclnodejs': the loaded module does not look like rclnodejs: ${HOW}`);
  return m;
}

export class RclnodejsTransport implements Ros2Transport {
  readonly name = 'rclnodejs';
  private constructor(
    private readonly rcl: RclnodejsLike,
    private readonly node: RclNodeLike,
  ) {}

  static async create(opts: { nodeName?: string; namespace?: string; rclnodejs?: RclnodejsLike } = {}): Promise<RclnodejsTransport> {
    const rcl = opts.rclnodejs ?? (await loadRclnodejs());
    await rcl.init();
    const node = new rcl.Node(opts.nodeName ?? 'insertion_daemon', opts.namespace ?? '');
    node.spin();
    return new RclnodejsTransport(rcl, node);
  }

  createPublisher<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile): Publisher<MessageTypes[K]> {
    const p = this.node.createPublisher(type, topic, { qos: qosFor(this.rcl, qos) });
    return { publish: (m) => p.publish(m), matched: () => p.subscriptionCount ?? -1, close: () => this.node.destroyPublisher?.(p) };
  }

  subscribe<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile, onMessage: (msg: MessageTypes[K]) => void): Closable {
    const s = this.node.createSubscription(type, topic, { qos: qosFor(this.rcl, qos) }, (m) => onMessage(m as MessageTypes[K]));
    return { close: () => this.node.destroySubscription?.(s) };
  }

  createService<S extends ServiceTypeName>(name: string, type: S, handler: ServiceHandler<S>): Closable {
    const s = this.node.createService(type, name, {}, (req, res) => {
      void Promise.resolve(handler(req as ServiceTypes[S]['request'])).then((r) => res.send(r));
    });
    return { close: () => this.node.destroyService?.(s) };
  }

  createClient<S extends ServiceTypeName>(name: string, type: S): ServiceClient<S> {
    const c = this.node.createClient(type, name);
    return {
      call: async (req, timeoutMs = 5000) => {
        if (!(await c.waitForService(timeoutMs))) throw new Error(`ros2 service ${name}: no server found within ${timeoutMs} ms`);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`ros2 service ${name}: no reply within ${timeoutMs} ms`)), timeoutMs);
          c.sendRequest(req, (r) => {
            clearTimeout(timer);
            res(r as ServiceTypes[S]['response']);
          });
        });
      },
      close: () => this.node.destroyClient?.(c),
    };
  }

  async close(): Promise<void> {
    this.node.destroy();
    this.rcl.shutdown();
  }
}
