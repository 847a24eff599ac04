/**
 * The small transport interface every ROS 2 path implements: publish, subscribe, services. Everything else ROS-specific
 * (conversions, latest-frame-only images, rates, e-stop mapping) lives above it, written once.
 *
 * Implementations: rclnodejs (a workstation with a sourced ROS 2, ./rclnodejs-transport.ts), the DDS wire over Cyclone
 * DDS without ROS (./dds-transport.ts), and an in-memory fake for tests (./fake-transport.ts).
 */
import type { MessageTypeName, MessageTypes, ServiceTypeName, ServiceTypes } from './messages.ts';

export interface QosProfile {
  reliability: 'reliable' | 'best_effort';
  durability: 'volatile' | 'transient_local';
  /** KEEP_LAST depth. */
  depth: number;
}

/** rclcpp's SensorDataQoS, but depth 1: the daemon wants the newest frame, never a backlog. */
export const QOS_SENSOR: QosProfile = { reliability: 'best_effort', durability: 'volatile', depth: 1 };
/** rclcpp's default (SystemDefaultsQoS as most nodes use it). */
export const QOS_DEFAULT: QosProfile = { reliability: 'reliable', durability: 'volatile', depth: 10 };
/** A latched state topic (late joiners get the last value): e-stop state. */
export const QOS_LATCHED: QosProfile = { reliability: 'reliable', durability: 'transient_local', depth: 1 };

export function parseQos(v: unknown, where: string): QosProfile {
  if (v === 'sensor') return QOS_SENSOR;
  if (v === 'default') return QOS_DEFAULT;
  if (v === 'latched') return QOS_LATCHED;
  if (typeof v !== 'object' || v === null) throw new Error(`${where}: QoS must be 'sensor' | 'default' | 'latched' or {reliability, durability, depth}`);
  const o = v as Record<string, unknown>;
  if (o.reliability !== 'reliable' && o.reliability !== 'best_effort') throw new Error(`${where}.reliability: 'reliable' | 'best_effort'`);
  if (o.durability !== 'volatile' && o.durability !== 'transient_local') throw new Error(`${where}.durability: 'volatile' | 'transient_local'`);
  if (!Number.isInteger(o.depth) || (o.depth as number) < 1) throw new Error(`${where}.depth: an integer >= 1`);
  return { reliability: o.reliability, durability: o.durability, depth: o.depth as number };
}

export interface Publisher<T> {
  publish(msg: T): void;
  /** Subscribers currently matched (discovery), where the transport knows; -1 if it cannot tell. */
  matched(): number;
  close(): void;
}

export interface Closable {
  close(): void;
}

export type ServiceHandler<S extends ServiceTypeName> = (req: ServiceTypes[S]['request']) => ServiceTypes[S]['response'] | Promise<ServiceTypes[S]['response']>;

export interface ServiceClient<S extends ServiceTypeName> {
  call(req: ServiceTypes[S]['request'], timeoutMs?: number): Promise<ServiceTypes[S]['response']>;
  /** Resolves once the server has been discovered, so that the next call goes out at once (where the transport can tell). */
  waitForServer?(timeoutMs?: number): Promise<void>;
  close(): void;
}

export interface Ros2Transport {
  /** 'rclnodejs' | 'dds' | 'fake' */
  readonly name: string;
  createPublisher<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile): Publisher<MessageTypes[K]>;
  /** The callback runs on the JS thread, one message at a time; it must not block (store, don't process). */
  subscribe<K extends MessageTypeName>(topic: string, type: K, qos: QosProfile, onMessage: (msg: MessageTypes[K]) => void): Closable;
  createService<S extends ServiceTypeName>(name: string, type: S, handler: ServiceHandler<S>): Closable;
  createClient<S extends ServiceTypeName>(name: string, type: S): ServiceClient<S>;
  close(): Promise<void>;
}

/** Why a transport could not start, with what to do about it (shown to the operator as is). */
export class TransportUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportUnavailableError';
  }
}

/** Applies `--ros-args -r from:=to`-style remaps to a topic name before it reaches a transport. */
export function remap(topic: string, remaps: Readonly<Record<string, string>>): string {
  return remaps[topic] ?? topic;
}
