/**
 * ROS 2 message types the daemon uses, their definitions, DDS names and CDR codecs.
 *
 * Definitions come from `@foxglove/rosmsg-msgs-common` (the Humble set; every type used here is identical in Jazzy),
 * the CDR encoding from `@foxglove/rosmsg2-serialization`. The few types that package lacks (std_srvs/Trigger,
 * Intera's RobotAssemblyState as ros1_bridge carries it) are parsed from their .msg text with `@foxglove/rosmsg`.
 * Encoded samples carry the 4-byte encapsulation header (`00 01 00 00`, little-endian plain CDR), as on the DDS wire.
 */
import { parse } from '@foxglove/rosmsg';
import { ros2humble } from '@foxglove/rosmsg-msgs-common';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';
import type { MessageDefinition } from '@foxglove/message-definition';

// ---- message shapes (as the CDR codec reads and writes them) ----

export interface Time {
  sec: number;
  nanosec: number;
}
export interface Header {
  stamp: Time;
  frame_id: string;
}
export interface XYZ {
  x: number;
  y: number;
  z: number;
}
export interface Quaternion extends XYZ {
  w: number;
}
export interface ImageMsg {
  header: Header;
  height: number;
  width: number;
  encoding: string;
  is_bigendian: number;
  step: number;
  data: Uint8Array;
}
export interface CompressedImageMsg {
  header: Header;
  format: string;
  data: Uint8Array;
}
export interface WrenchStampedMsg {
  header: Header;
  wrench: { force: XYZ; torque: XYZ };
}
export interface PoseStampedMsg {
  header: Header;
  pose: { position: XYZ; orientation: Quaternion };
}
export interface TwistMsg {
  linear: XYZ;
  angular: XYZ;
}
export interface TwistStampedMsg {
  header: Header;
  twist: TwistMsg;
}
export interface BoolMsg {
  data: boolean;
}
export interface Float64Msg {
  data: number;
}
export interface StringMsg {
  data: string;
}
export interface KeyValue {
  key: string;
  value: string;
}
export interface DiagnosticStatusMsg {
  level: number;
  name: string;
  message: string;
  hardware_id: string;
  values: KeyValue[];
}
export interface DiagnosticArrayMsg {
  header: Header;
  status: DiagnosticStatusMsg[];
}
export interface JointStateMsg {
  header: Header;
  name: string[];
  position: Float64Array | number[];
  velocity: Float64Array | number[];
  effort: Float64Array | number[];
}
export interface JoyMsg {
  header: Header;
  axes: Float32Array | number[];
  buttons: Int32Array | number[];
}
export interface TriggerRequestMsg {
  /** ROS 2's IDL gives empty structures one dummy member; always 0. */
  structure_needs_at_least_one_member: number;
}
export interface TriggerResponseMsg {
  success: boolean;
  message: string;
}
/** intera_core_msgs/RobotAssemblyState, Sawyer's `/robot/state`, as ros1_bridge republishes it on ROS 2. */
export interface RobotAssemblyStateMsg {
  homed: boolean;
  ready: boolean;
  enabled: boolean;
  stopped: boolean;
  error: boolean;
  lowvoltage: boolean;
  estop_button: number;
  estop_source: number;
}

export const ESTOP_BUTTON = { UNPRESSED: 0, PRESSED: 1, UNKNOWN: 2, RELEASED: 3 } as const;
export const ESTOP_SOURCE = { NONE: 0, USER: 1, UNKNOWN: 2, FAULT: 3, ENGINE: 4 } as const;
export const DIAGNOSTIC_LEVEL = { OK: 0, WARN: 1, ERROR: 2, STALE: 3 } as const;

/** Type name -> message shape, for typed publish/subscribe. Names as ROS 2 writes them (`pkg/msg/Type`). */
export interface MessageTypes {
  'sensor_msgs/msg/Image': ImageMsg;
  'sensor_msgs/msg/CompressedImage': CompressedImageMsg;
  'sensor_msgs/msg/Joy': JoyMsg;
  'sensor_msgs/msg/JointState': JointStateMsg;
  'geometry_msgs/msg/WrenchStamped': WrenchStampedMsg;
  'geometry_msgs/msg/PoseStamped': PoseStampedMsg;
  'geometry_msgs/msg/TwistStamped': TwistStampedMsg;
  'geometry_msgs/msg/Twist': TwistMsg;
  'std_msgs/msg/Bool': BoolMsg;
  'std_msgs/msg/Float64': Float64Msg;
  'std_msgs/msg/String': StringMsg;
  'diagnostic_msgs/msg/DiagnosticArray': DiagnosticArrayMsg;
  'intera_core_msgs/msg/RobotAssemblyState': RobotAssemblyStateMsg;
  'std_srvs/srv/Trigger_Request': TriggerRequestMsg;
  'std_srvs/srv/Trigger_Response': TriggerResponseMsg;
}
export type MessageTypeName = keyof MessageTypes;

/** Service name -> request/response types. */
export interface ServiceTypes {
  'std_srvs/srv/Trigger': { request: TriggerRequestMsg; response: TriggerResponseMsg };
}
export type ServiceTypeName = keyof ServiceTypes;
export const SERVICE_PARTS: Record<ServiceTypeName, { request: MessageTypeName; response: MessageTypeName }> = {
  'std_srvs/srv/Trigger': { request: 'std_srvs/srv/Trigger_Request', response: 'std_srvs/srv/Trigger_Response' },
};

// ---- definitions ----

const EXTRA_MSG_TEXT: Record<string, string> = {
  'std_srvs/srv/Trigger_Request': 'uint8 structure_needs_at_least_one_member\n',
  'std_srvs/srv/Trigger_Response': 'bool success\nstring message\n',
  // Field order and constants as in RethinkRobotics/intera_common (intera_core_msgs/msg/RobotAssemblyState.msg); only
  // the order and types matter on the wire.
  'intera_core_msgs/msg/RobotAssemblyState': [
    'bool homed',
    'bool ready',
    'bool enabled',
    'bool stopped',
    'bool error',
    'bool lowvoltage', // ROS 2 names are lower case; as the ROS 2 port of intera_core_msgs spells it
    'uint8 estop_button',
    'uint8 ESTOP_BUTTON_UNPRESSED = 0',
    'uint8 ESTOP_BUTTON_PRESSED = 1',
    'uint8 ESTOP_BUTTON_UNKNOWN = 2',
    'uint8 ESTOP_BUTTON_RELEASED = 3',
    'uint8 estop_source',
    'uint8 ESTOP_SOURCE_NONE = 0',
    'uint8 ESTOP_SOURCE_USER = 1',
    'uint8 ESTOP_SOURCE_UNKNOWN = 2',
    'uint8 ESTOP_SOURCE_FAULT = 3',
    'uint8 ESTOP_SOURCE_ENGINE = 4',
    '',
  ].join('\n'),
};

/** `pkg/msg/Type` -> `pkg/Type`, the key style of @foxglove/rosmsg-msgs-common. */
function commonKey(type: string): string {
  return type.replace('/msg/', '/');
}

const COMMON = ros2humble as Record<string, MessageDefinition>;

/** The root definition first, then every nested type it uses (what MessageReader/MessageWriter expect). */
export function definitionsOf(type: MessageTypeName): MessageDefinition[] {
  const extra = EXTRA_MSG_TEXT[type];
  if (extra !== undefined) {
    const parsed = parse(extra, { ros2: true });
    const root = parsed[0];
    if (!root) throw new Error(`ros2 messages: could not parse the definition of ${type}`);
    return [{ ...root, name: type }, ...parsed.slice(1)];
  }
  const out: MessageDefinition[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const def = COMMON[name];
    if (!def) throw new Error(`ros2 messages: no definition for ${name} (needed by ${type})`);
    out.push(def);
    for (const f of def.definitions) if (f.isComplex === true) visit(f.type);
  };
  visit(commonKey(type));
  return out;
}

/** ROS 2's DDS type name: `sensor_msgs/msg/Image` -> `sensor_msgs::msg::dds_::Image_`. */
export function ddsTypeName(type: string): string {
  const parts = type.split('/');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) throw new Error(`ros2: bad type name '${type}' (want pkg/msg/Type)`);
  const [pkg, kind, name] = parts as [string, string, string];
  return `${pkg}::${kind}::dds_::${name}_`;
}

/** ROS 2's DDS topic names: topics `rt/<name>`, service requests `rq/<name>Request`, replies `rr/<name>Reply`. */
export function ddsTopicName(topic: string, role: 'topic' | 'request' | 'reply' = 'topic'): string {
  if (!topic.startsWith('/')) throw new Error(`ros2: topic '${topic}' must be absolute (start with '/')`);
  if (!/^(\/[A-Za-z_~{][A-Za-z0-9_{}]*)+$/.test(topic)) throw new Error(`ros2: '${topic}' is not a valid ROS 2 name`);
  const bare = topic.slice(1);
  if (role === 'request') return `rq/${bare}Request`;
  if (role === 'reply') return `rr/${bare}Reply`;
  return `rt/${bare}`;
}

// ---- codecs ----

export interface Codec<T> {
  readonly type: MessageTypeName;
  readonly ddsType: string;
  /** CDR with its encapsulation header. */
  encode(msg: T): Uint8Array;
  /** Throws a clear error (naming the type) on a truncated or malformed sample. */
  decode(bytes: Uint8Array): T;
}

const codecs = new Map<string, Codec<unknown>>();

export function codecFor<K extends MessageTypeName>(type: K): Codec<MessageTypes[K]> {
  let c = codecs.get(type);
  if (!c) {
    const defs = definitionsOf(type);
    const writer = new MessageWriter(defs);
    const reader = new MessageReader(defs);
    c = {
      type,
      ddsType: ddsTypeName(type),
      encode: (msg) => writer.writeMessage(msg),
      decode: (bytes) => {
        if (bytes.byteLength < 4) throw new Error(`ros2 ${type}: sample of ${bytes.byteLength} bytes has no CDR header`);
        const kind = bytes[1];
        if (bytes[0] !== 0 || (kind !== 0 && kind !== 1)) {
          throw new Error(`ros2 ${type}: unsupported CDR encapsulation ${bytes[0]?.toString(16)} ${kind?.toString(16)} (want plain CDR)`);
        }
        try {
          return reader.readMessage(bytes);
        } catch (e) {
          throw new Error(`ros2 ${type}: malformed sample (${bytes.byteLength} bytes): ${(e as Error).message}`);
        }
      },
    };
    codecs.set(type, c);
  }
  return c as Codec<MessageTypes[K]>;
}

export function encode<K extends MessageTypeName>(type: K, msg: MessageTypes[K]): Uint8Array {
  return codecFor(type).encode(msg);
}

export function decode<K extends MessageTypeName>(type: K, bytes: Uint8Array): MessageTypes[K] {
  return codecFor(type).decode(bytes);
}

const KNOWN: readonly MessageTypeName[] = [
  'sensor_msgs/msg/Image',
  'sensor_msgs/msg/CompressedImage',
  'sensor_msgs/msg/Joy',
  'geometry_msgs/msg/WrenchStamped',
  'geometry_msgs/msg/PoseStamped',
  'geometry_msgs/msg/TwistStamped',
  'geometry_msgs/msg/Twist',
  'std_msgs/msg/Bool',
  'std_msgs/msg/Float64',
  'std_msgs/msg/String',
  'diagnostic_msgs/msg/DiagnosticArray',
  'intera_core_msgs/msg/RobotAssemblyState',
  'std_srvs/srv/Trigger_Request',
  'std_srvs/srv/Trigger_Response',
  'sensor_msgs/msg/JointState',
];
export const MESSAGE_TYPES: readonly MessageTypeName[] = KNOWN;

export function isMessageType(type: string): type is MessageTypeName {
  return (KNOWN as readonly string[]).includes(type);
}
