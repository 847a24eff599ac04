/**
 * A ROS 2 recording written the way rosbag2's MCAP storage plugin writes one (profile 'ros2', one 'ros2msg' schema
 * per type with its dependencies concatenated, 'cdr' messages, offered_qos_profiles channel metadata), directly with
 * @mcap/core's McapWriter and @foxglove/rosmsg2-serialization's MessageWriter: none of the project's export code.
 * Schema texts are the ROS 2 Humble .msg files shipped by @foxglove/rosmsg-msgs-common.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { McapWriter } from '@mcap/core';
import { parse } from '@foxglove/rosmsg';
import { MessageWriter } from '@foxglove/rosmsg2-serialization';

const require = createRequire(import.meta.url);
const MSGDEFS = join(dirname(require.resolve('@foxglove/rosmsg-msgs-common/package.json')), 'msgdefs', 'ros2humble');
const QOS = '- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: 2147483647\n    nsec: 4294967295\n';

export const BAG_TOPICS = {
  image: '/camera/color/image_raw',
  compressed: '/camera/color/image_raw/compressed',
  wrench: '/ft_sensor/wrench',
  pose: '/tcp_pose',
  goal: '/socket_goal',
  success: '/insertion/success',
  marker: '/episode_start',
} as const;

/** The bag's ground truth, so tests can compare the import with what was recorded. */
export interface BagTruth {
  t0: bigint;
  /** Per episode, per frame: log time, header stamp, pose, latest wrench, RGB pixels (before any resize). */
  episodes: {
    frames: { t: bigint; stamp: bigint; pos: [number, number, number]; quat: [number, number, number, number]; wrench: number[]; rgb: Uint8Array }[];
    success: boolean;
  }[];
  /** A frame 1.5 s before the first episode, outside every episode. */
  lonely: bigint;
  width: number;
  height: number;
  goal: [number, number, number];
}

const SEC = 1_000_000_000n;
const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));
const stamp = (ns: bigint): { sec: number; nanosec: number } => ({ sec: Number(ns / SEC), nanosec: Number(ns % SEC) });

/** Final z per episode (m): 10 mm, 30 mm and 5 mm above the base; labels true, false, true. */
const FINAL_Z = [0.01, 0.03, 0.005];
const SUCCESS = [true, false, true];

export async function writeRosbag(file: string, o: { compressed?: boolean; width?: number; height?: number; frames?: number } = {}): Promise<BagTruth> {
  const width = o.width ?? 64;
  const height = o.height ?? 64;
  const K = o.frames ?? 5;
  const fd = openSync(file, 'w');
  let pos = 0n;
  const writer = new McapWriter({
    writable: {
      write: async (b: Uint8Array) => {
        writeSync(fd, b);
        pos += BigInt(b.length);
      },
      position: () => pos,
    },
    useStatistics: true,
    useChunks: true,
    useChunkIndex: true,
    useMessageIndex: true,
    useSummaryOffsets: true,
  });
  await writer.start({ profile: 'ros2', library: 'rosbag2-like test writer (@mcap/core)' });
  const types = new Map<string, { id: number; w: MessageWriter }>();
  const channels = new Map<string, { id: number; w: MessageWriter; seq: number }>();
  const channel = async (topic: string, type: string): Promise<void> => {
    let t = types.get(type);
    if (!t) {
      const [pkg, , name] = type.split('/');
      const text = readFileSync(join(MSGDEFS, pkg!, 'msg', `${name}.msg`), 'utf8');
      t = {
        id: await writer.registerSchema({ name: type, encoding: 'ros2msg', data: new TextEncoder().encode(text) }),
        w: new MessageWriter(parse(text, { ros2: true })),
      };
      types.set(type, t);
    }
    const id = await writer.registerChannel({ topic, schemaId: t.id, messageEncoding: 'cdr', metadata: new Map([['offered_qos_profiles', QOS]]) });
    channels.set(topic, { id, w: t.w, seq: 0 });
  };
  const imageTopic = o.compressed ? BAG_TOPICS.compressed : BAG_TOPICS.image;
  await channel(imageTopic, o.compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image');
  await channel(BAG_TOPICS.wrench, 'geometry_msgs/msg/WrenchStamped');
  await channel(BAG_TOPICS.pose, 'geometry_msgs/msg/PoseStamped');
  await channel(BAG_TOPICS.goal, 'geometry_msgs/msg/PointStamped');
  await channel(BAG_TOPICS.success, 'std_msgs/msg/Bool');
  await channel(BAG_TOPICS.marker, 'std_msgs/msg/String');

  // Messages are collected, sorted by log time and written in that order, as a recorder receives them.
  const queue: { topic: string; t: bigint; msg: unknown }[] = [];
  const at = (topic: string, t: bigint, msg: unknown): void => void queue.push({ topic, t, msg });
  const t0 = 1_700_000_000n * SEC;
  const goal: [number, number, number] = [0.6, 0.1, 0.0];
  at(BAG_TOPICS.goal, t0 - 3n * SEC, { header: { stamp: stamp(t0 - 3n * SEC), frame_id: 'base' }, point: { x: goal[0], y: goal[1], z: goal[2] } });
  // Wrench at 50 Hz over the whole recording.
  const wrenchAt = (t: bigint): number[] => {
    const s = Number(t - t0) / 1e9;
    return [1 + s, -0.5 * s, 2 + 0.1 * s, 0.01 * s, 0.02, -0.03 * s];
  };
  const lastWrench = (t: bigint): bigint => t0 - 3n * SEC + ((t - (t0 - 3n * SEC)) / ms(20)) * ms(20);
  for (let t = t0 - 3n * SEC; t < t0 + 10n * SEC; t += ms(20)) {
    const w = wrenchAt(t);
    at(BAG_TOPICS.wrench, t, {
      header: { stamp: stamp(t), frame_id: 'ft_sensor' },
      wrench: { force: { x: w[0], y: w[1], z: w[2] }, torque: { x: w[3], y: w[4], z: w[5] } },
    });
  }
  const frame = async (t: bigint, ep: number, k: number, p: [number, number, number]): Promise<BagTruth['episodes'][number]['frames'][number]> => {
    const quat: [number, number, number, number] = [0, 1, 0, 0]; // w x y z: tool pointing down
    at(BAG_TOPICS.pose, t - ms(5), {
      header: { stamp: stamp(t - ms(5)), frame_id: 'base' },
      pose: { position: { x: p[0], y: p[1], z: p[2] }, orientation: { x: quat[1], y: quat[2], z: quat[3], w: quat[0] } },
    });
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      rgb[3 * i] = (i * 7 + ep * 50) & 255;
      rgb[3 * i + 1] = ((i >> 3) + k * 20) & 255;
      rgb[3 * i + 2] = (ep * 80 + k * 9 + (i % width)) & 255;
    }
    const hs = t - ms(20); // acquired 20 ms before it was logged
    if (o.compressed) {
      const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer();
      at(imageTopic, t, { header: { stamp: stamp(hs), frame_id: 'camera_color_optical_frame' }, format: 'png', data: png });
    } else {
      const bgr = new Uint8Array(rgb.length);
      for (let i = 0; i < rgb.length; i += 3) {
        bgr[i] = rgb[i + 2]!;
        bgr[i + 1] = rgb[i + 1]!;
        bgr[i + 2] = rgb[i]!;
      }
      at(imageTopic, t, {
        header: { stamp: stamp(hs), frame_id: 'camera_color_optical_frame' },
        height,
        width,
        encoding: 'bgr8',
        is_bigendian: 0,
        step: width * 3,
        data: bgr,
      });
    }
    return { t, stamp: hs, pos: p, quat, wrench: wrenchAt(lastWrench(t)), rgb };
  };
  const lonely = t0 - ms(1500);
  await frame(lonely, 9, 0, [0.6, 0.1, 0.1]);
  const episodes: BagTruth['episodes'] = [];
  for (let ep = 0; ep < 3; ep++) {
    const start = t0 + BigInt(ep) * 3n * SEC;
    at(BAG_TOPICS.marker, start - ms(10), { data: `episode ${ep}` });
    at(BAG_TOPICS.success, start - ms(30), { data: false });
    const frames = [];
    for (let k = 0; k < K; k++) {
      const z = 0.05 + (FINAL_Z[ep]! - 0.05) * (k / (K - 1));
      frames.push(await frame(start + BigInt(k) * ms(100) + ms(k === 2 ? 3 : 0), ep, k, [0.6 + 0.001 * k, 0.1 - 0.0005 * ep, z]));
    }
    // The success label arrives after the last frame, as a checker node would publish it.
    at(BAG_TOPICS.success, start + BigInt(K - 1) * ms(100) + ms(50), { data: SUCCESS[ep] });
    episodes.push({ frames, success: SUCCESS[ep]! });
  }
  queue.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  for (const q of queue) {
    const c = channels.get(q.topic)!;
    await writer.addMessage({ channelId: c.id, sequence: c.seq++, logTime: q.t, publishTime: q.t, data: c.w.writeMessage(q.msg) });
  }
  await writer.end();
  closeSync(fd);
  return { t0, episodes, lonely, width, height, goal };
}
