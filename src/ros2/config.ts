/**
 * The `backend.ros2` section of the daemon config (config/ros2.example.yaml) -> Ros2BackendConfig + transport choice,
 * with errors that name the file and the field; and the factory that builds the transport and the backend.
 *
 * Wired: `backend.kind: ros2` in config/daemon.yaml makes npm start (src/cli/daemon.ts) run the ROS 2 node with this
 * section (src/cli/ros2-daemon.ts ros2Hook), as `--ros2 FILE` does for the ROS entry point.
 */
import { DEFAULT_ROS2_CONFIG, Ros2Backend, type Ros2BackendConfig } from './backend.ts';
import { ddsTopicName } from './messages.ts';
import { parseQos, type Ros2Transport } from './transport.ts';
import { parseKinematics } from './kinematics.ts';
import type { JoyMapping } from './convert.ts';
import type { Vec3 } from '../core/types.ts';
import { parseStructured } from '../config/load.ts';

export interface TeleopConfig {
  /** geometry_msgs/Twist (spacenav) topic, or null. */
  twist: string | null;
  /** m/s per unit of the Twist's linear velocity. */
  twistScale: number;
  /** sensor_msgs/Joy topic, or null. */
  joy: string | null;
  joyMapping: JoyMapping;
  /** A takeover lapses when no teleop message arrived for this long (s). */
  timeout: number;
}

export interface Ros2Section {
  transport: 'dds' | 'rclnodejs';
  /** ROS_DOMAIN_ID; null: the environment's (default 0). */
  domainId: number | null;
  /** dds transport: loopback-only discovery unless CYCLONEDDS_URI is set. */
  loopbackOnly: boolean;
  nodeName: string;
  namespace: string;
  backend: Omit<Ros2BackendConfig, 'controlPeriod' | 'goal'>;
  teleop: TeleopConfig;
  /** Daemon-side publications and services (REST mirrors). */
  node: { episodeTopic: string; rewardTopic: string; servicePrefix: string; diagnosticsHz: number };
}

export const DEFAULT_TELEOP: TeleopConfig = {
  twist: null,
  twistScale: 0.05,
  joy: null,
  joyMapping: { axes: [1, 0, 4], scale: [0.05, 0.05, 0.05], deadman: 4, deadband: 0.05 },
  timeout: 0.3,
};

export const DEFAULT_SECTION: Ros2Section = {
  transport: 'dds',
  domainId: null,
  loopbackOnly: true,
  nodeName: 'insertion_daemon',
  namespace: '',
  backend: (({ controlPeriod: _p, goal: _g, ...rest }) => rest)(DEFAULT_ROS2_CONFIG),
  teleop: DEFAULT_TELEOP,
  node: { episodeTopic: '/insertion/episode', rewardTopic: '/insertion/reward', servicePrefix: '/insertion', diagnosticsHz: 1 },
};

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: expected a mapping`);
  return v as Obj;
}

function known(o: Obj, keys: string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new Error(`${where}.${k}: unknown field (known: ${keys.join(', ')})`);
}

function topic(v: unknown, where: string, nullable: boolean): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'string') throw new Error(`${where}: expected a topic name${nullable ? ' or null' : ''}`);
  try {
    ddsTopicName(v);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return v;
}

function num(v: unknown, where: string, min: number, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new Error(`${where}: expected a number in [${min}, ${max}]`);
  return v;
}

/** Parses `backend.ros2` from the config file; missing fields take the defaults. */
export function parseRos2Section(raw: unknown, file: string, path = 'backend.ros2'): Ros2Section {
  const at = `${file}: ${path}`;
  const o = obj(raw, at);
  known(
    o,
    [
      'transport',
      'domainId',
      'loopbackOnly',
      'nodeName',
      'namespace',
      'topics',
      'remaps',
      'qos',
      'command',
      'start',
      'rateWindow',
      'kinematics',
      'teleop',
      'node',
    ],
    at,
  );
  const d = structuredClone(DEFAULT_SECTION);
  if (o.transport !== undefined) {
    if (o.transport !== 'dds' && o.transport !== 'rclnodejs') throw new Error(`${at}.transport: 'dds' | 'rclnodejs'`);
    d.transport = o.transport;
  }
  if (o.domainId !== undefined) d.domainId = o.domainId === null ? null : num(o.domainId, `${at}.domainId`, 0, 232);
  if (o.loopbackOnly !== undefined) {
    if (typeof o.loopbackOnly !== 'boolean') throw new Error(`${at}.loopbackOnly: true | false`);
    d.loopbackOnly = o.loopbackOnly;
  }
  if (o.nodeName !== undefined) {
    if (typeof o.nodeName !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.nodeName)) throw new Error(`${at}.nodeName: a ROS 2 node name`);
    d.nodeName = o.nodeName;
  }
  if (o.namespace !== undefined) {
    if (typeof o.namespace !== 'string' || (o.namespace !== '' && !/^(\/[A-Za-z][A-Za-z0-9_]*)+$/.test(o.namespace)))
      throw new Error(`${at}.namespace: '' or /a/b`);
    d.namespace = o.namespace;
  }
  const t = obj(o.topics, `${at}.topics`);
  const tk = Object.keys(d.backend.topics);
  known(t, tk, `${at}.topics`);
  for (const k of tk) {
    if (t[k] === undefined) continue;
    if (k === 'imageKind') {
      if (t[k] !== 'raw' && t[k] !== 'compressed') throw new Error(`${at}.topics.imageKind: 'raw' | 'compressed'`);
      d.backend.topics.imageKind = t[k];
    } else {
      const nullable = !['image', 'wrench', 'pose', 'command'].includes(k);
      (d.backend.topics as unknown as Obj)[k] = topic(t[k], `${at}.topics.${k}`, nullable);
    }
  }
  const r = obj(o.remaps, `${at}.remaps`);
  for (const [from, to] of Object.entries(r))
    d.backend.remaps[topic(from, `${at}.remaps key`, false) as string] = topic(to, `${at}.remaps.${from}`, false) as string;
  const q = obj(o.qos, `${at}.qos`);
  known(q, ['sensors', 'estop', 'command'], `${at}.qos`);
  for (const k of ['sensors', 'estop', 'command'] as const) if (q[k] !== undefined) d.backend.qos[k] = parseQos(q[k], `${at}.qos.${k}`);
  const c = obj(o.command, `${at}.command`);
  known(c, ['mode', 'frameId'], `${at}.command`);
  if (c.mode !== undefined) {
    if (c.mode !== 'twist' && c.mode !== 'pose') throw new Error(`${at}.command.mode: 'twist' (TwistStamped) | 'pose' (PoseStamped)`);
    d.backend.command.mode = c.mode;
  }
  if (c.frameId !== undefined) {
    if (typeof c.frameId !== 'string') throw new Error(`${at}.command.frameId: a frame name`);
    d.backend.command.frameId = c.frameId;
  }
  const s = obj(o.start, `${at}.start`);
  known(s, ['height', 'speed', 'tolerance', 'timeout'], `${at}.start`);
  if (s.height !== undefined) d.backend.start.height = num(s.height, `${at}.start.height`, 0, 0.5);
  if (s.speed !== undefined) d.backend.start.speed = num(s.speed, `${at}.start.speed`, 1e-4, 0.5);
  if (s.tolerance !== undefined) d.backend.start.tolerance = num(s.tolerance, `${at}.start.tolerance`, 1e-5, 0.01);
  if (s.timeout !== undefined) d.backend.start.timeout = num(s.timeout, `${at}.start.timeout`, 0.1, 600);
  if (o.rateWindow !== undefined) d.backend.rateWindow = num(o.rateWindow, `${at}.rateWindow`, 0.1, 60);
  if (o.kinematics !== undefined) d.backend.kinematics = o.kinematics === null ? null : parseKinematics(o.kinematics, `${at}.kinematics`);
  if (d.backend.topics.jointStates && !d.backend.kinematics)
    throw new Error(`${at}.kinematics: required when topics.jointStates is set (the chain from joint states to the connector tip)`);
  const tp = obj(o.teleop, `${at}.teleop`);
  known(tp, ['twist', 'twistScale', 'joy', 'joyMapping', 'timeout'], `${at}.teleop`);
  if (tp.twist !== undefined) d.teleop.twist = topic(tp.twist, `${at}.teleop.twist`, true);
  if (tp.joy !== undefined) d.teleop.joy = topic(tp.joy, `${at}.teleop.joy`, true);
  if (tp.twistScale !== undefined) d.teleop.twistScale = num(tp.twistScale, `${at}.teleop.twistScale`, 0, 1);
  if (tp.timeout !== undefined) d.teleop.timeout = num(tp.timeout, `${at}.teleop.timeout`, 0.01, 10);
  if (tp.joyMapping !== undefined) {
    const j = obj(tp.joyMapping, `${at}.teleop.joyMapping`);
    known(j, ['axes', 'scale', 'deadman', 'deadband'], `${at}.teleop.joyMapping`);
    const three = (v: unknown, f: string, int: boolean): [number, number, number] => {
      if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!int || (Number.isInteger(x) && x >= 0)))) {
        throw new Error(`${at}.teleop.joyMapping.${f}: three ${int ? 'axis indices' : 'numbers'}`);
      }
      const t = v as [number, number, number];
      return [t[0], t[1], t[2]];
    };
    if (j.axes !== undefined) d.teleop.joyMapping.axes = three(j.axes, 'axes', true);
    if (j.scale !== undefined) d.teleop.joyMapping.scale = three(j.scale, 'scale', false);
    if (j.deadman !== undefined) d.teleop.joyMapping.deadman = j.deadman === null ? null : num(j.deadman, `${at}.teleop.joyMapping.deadman`, 0, 64);
    if (j.deadband !== undefined) d.teleop.joyMapping.deadband = num(j.deadband, `${at}.teleop.joyMapping.deadband`, 0, 1);
  }
  const n = obj(o.node, `${at}.node`);
  known(n, ['episodeTopic', 'rewardTopic', 'servicePrefix', 'diagnosticsHz'], `${at}.node`);
  if (n.episodeTopic !== undefined) d.node.episodeTopic = topic(n.episodeTopic, `${at}.node.episodeTopic`, false) as string;
  if (n.rewardTopic !== undefined) d.node.rewardTopic = topic(n.rewardTopic, `${at}.node.rewardTopic`, false) as string;
  if (n.servicePrefix !== undefined) d.node.servicePrefix = topic(n.servicePrefix, `${at}.node.servicePrefix`, false) as string;
  if (n.diagnosticsHz !== undefined) d.node.diagnosticsHz = num(n.diagnosticsHz, `${at}.node.diagnosticsHz`, 0, 100);
  return d;
}

/** Builds the chosen transport (lazily loading rclnodejs or the DDS shim; clear errors when they are missing). */
export async function createTransport(s: Ros2Section): Promise<Ros2Transport> {
  if (s.transport === 'rclnodejs') {
    const { RclnodejsTransport } = await import('./rclnodejs-transport.ts');
    return RclnodejsTransport.create({ nodeName: s.nodeName, namespace: s.namespace });
  }
  const { DdsTransport } = await import('./dds-transport.ts');
  return new DdsTransport({ ...(s.domainId !== null ? { domainId: s.domainId } : {}), loopbackOnly: s.loopbackOnly });
}

export async function createRos2Backend(
  s: Ros2Section,
  o: { tickHz: number; goal: Vec3 | null; transport?: Ros2Transport },
): Promise<{ backend: Ros2Backend; transport: Ros2Transport }> {
  const transport = o.transport ?? (await createTransport(s));
  const backend = new Ros2Backend(transport, { ...s.backend, controlPeriod: 1 / o.tickHz, goal: o.goal });
  return { backend, transport };
}

/**
 * How `ros2 launch` hands the node its settings (launch/insertion_daemon.launch.{py,xml}): INSERTION_ROS2_PARAMS, a ROS 2
 * parameters file (`<node>: ros__parameters: {...}` or `/**: ros__parameters:`) with the backend.ros2 fields, and
 * INSERTION_ROS2_REMAPS, `from:=to` pairs separated by ';'. Both override `base` (the config file's section).
 */
export function ros2SectionFromEnv(base: Ros2Section, env: NodeJS.ProcessEnv, readFile: (p: string) => string): Ros2Section {
  let s = base;
  const file = env.INSERTION_ROS2_PARAMS;
  if (file) {
    let doc: unknown;
    try {
      doc = parseStructured(readFile(file), file);
    } catch (e) {
      throw new Error(`${file}: cannot read the ROS 2 parameters file: ${(e as Error).message}`);
    }
    const root = obj(doc, file);
    const entry = obj(root[s.nodeName] ?? root[`/${s.nodeName}`] ?? root['/**'], `${file}: ${s.nodeName}`);
    if (!('ros__parameters' in entry)) throw new Error(`${file}: no '${s.nodeName}: ros__parameters:' (or '/**:') section`);
    s = parseRos2Section(
      mergeDeep(sectionAsRaw(base), obj(entry.ros__parameters, `${file}: ${s.nodeName}.ros__parameters`)),
      file,
      `${s.nodeName}.ros__parameters`,
    );
  }
  const remaps = env.INSERTION_ROS2_REMAPS;
  if (remaps && remaps.trim() !== '') {
    const r = { ...s.backend.remaps };
    for (const pair of remaps
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '')) {
      const [from, to, ...rest] = pair.split(':=');
      if (from === undefined || to === undefined || rest.length > 0) throw new Error(`INSERTION_ROS2_REMAPS: '${pair}' is not from:=to`);
      r[topic(from.trim(), 'INSERTION_ROS2_REMAPS from', false) as string] = topic(to.trim(), `INSERTION_ROS2_REMAPS ${from}`, false) as string;
    }
    s = { ...s, backend: { ...s.backend, remaps: r } };
  }
  return s;
}

function sectionAsRaw(s: Ros2Section): Obj {
  const { backend, ...rest } = s;
  return { ...rest, ...backend };
}

function mergeDeep(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? mergeDeep(cur as Obj, v as Obj) : v;
  }
  return out;
}
