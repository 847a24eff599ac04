/**
 * Import a ROS 2 recording (`ros2 bag record -s mcap`: profile 'ros2', ros2msg schemas, cdr messages) as prior data
 * in the daemon's schema, so the learners load it like simulated prior data (src/data/dataset.ts).
 *
 * - Ticks: one per camera frame (sensor_msgs/msg/Image or CompressedImage), optionally thinned to `hz`; each takes
 *   the latest wrench (WrenchStamped) and pose (PoseStamped) logged at or before it, and is skipped when either is
 *   missing or older than `maxSkewS`. Images are resized (centre crop to square, then area/cubic resize by sharp)
 *   to `imageSize` RGB.
 * - Goal x*: the latest message on a goal topic (PointStamped / PoseStamped) or a fixed `goal`.
 * - Episodes: split where the camera stream has a gap longer than `split.seconds`, or at messages on a marker topic
 *   (any type; std_msgs/Bool false and insertion_daemon/EpisodeEvent 'end' end an episode instead of starting one).
 * - Labels (success of an observation), from one named source: a std_msgs/Bool topic, a JSON file of per-episode
 *   labels, or "final z below a threshold". See LabelSource.
 * - Rows, as the collector writes them (src/data/collect.ts): for ticks 0..K-1, rows t = 0..K-2 with
 *   actionExecuted = pose(t+1) - pose(t) (the move the arm made), actionP = -kp (x_t - x*), actionResidual =
 *   executed - P, gtSuccess = label of observation t+1 and rewardProb = that label as 0/1, done at t = K-2; and a
 *   final observation-only row t = K-1. Wrench re-zeroed at each episode's first tick (the daemon tares the F/T
 *   sensor before each episode) unless `rezero` is false.
 * - One session per import (robot/backend 'ros2-bag', config = the import options and the bag's sha256); episodes
 *   of kind 'prior', domain = the connector named by the caller, policyVersion = `controller`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { toSquareRgb } from '../robot/image-codec.ts';
import { McapIndexedReader } from '@mcap/core';
import { WrenchCorrector } from '../robot/preprocess.ts';
import type { RgbImage, Vec3, Wrench } from '../core/types.ts';
import { Store } from '../store/index.ts';
import type { TransitionInput } from '../store/types.ts';
import { FileReadable } from './files.ts';
import { ros2Reader, rosTimeNs } from '../ros2/msgfile.ts';
import { ExportError } from './select.ts';

export type SplitRule = { kind: 'gap'; seconds: number } | { kind: 'marker'; topic: string };
export type LabelSource =
  /** std_msgs/msg/Bool: an observation is labelled with the latest value at or before it within its episode (false
   *  before any); the episode with the last value up to `labelGraceS` after its last frame (never past the next
   *  episode's start), which also labels its final observation. */
  | { kind: 'topic'; topic: string }
  /** A JSON array of per-episode labels in episode order (true/false or 1/0), or { "labels": [...] }. Episode-level:
   *  the final observation carries the label, earlier observations 0 (episodes end at insertion). */
  | { kind: 'json'; file: string }
  /** Success when the end effector's z (m, pose frame) is below `below`; per observation, episode = final. */
  | { kind: 'final-z'; below: number };

export interface ImportTopics {
  image: string;
  wrench: string;
  pose: string;
  goal?: string | null;
}

export interface ImportOptions {
  bag: string;
  /** Destination log (created if missing). */
  db: string;
  /** Connector / domain name of every episode. */
  domain: string;
  topics: ImportTopics;
  /** x* when there is no goal topic (m, in the pose frame). */
  goal?: Vec3 | null;
  split: SplitRule;
  labels: LabelSource;
  imageSize?: number;
  /** At most this many ticks per second (default: every camera frame). */
  hz?: number | null;
  /** Oldest wrench/pose sample a tick may use, s (default 0.2). */
  maxSkewS?: number;
  /** Label topic: how long after an episode's last frame its label may arrive, s (default 0.5). */
  labelGraceS?: number;
  /** P-controller gains for actionP (default the shipped calibration's 1, 1, 0.3). */
  kp?: Vec3;
  /** Episodes with fewer ticks are skipped (default 2, the least that makes one transition). */
  minTicks?: number;
  rezero?: boolean;
  /** policyVersion of the episodes (default 'ros2-bag'). */
  controller?: string;
  robot?: string;
  note?: string | null;
}

export interface ImportSummary {
  bag: string;
  db: string;
  sessionId: number;
  episodes: { id: number; ticks: number; success: boolean; startNs: string; endNs: string }[];
  transitions: number;
  frames: { total: number; used: number; thinned: number; noSensor: number; outsideEpisodes: number };
  skippedEpisodes: number;
  labelSource: string;
  seconds: number;
}

interface Stamped<T> {
  t: bigint;
  stamp: bigint;
  v: T;
}

interface Tick {
  t: bigint;
  imageStamp: bigint;
  image: RgbImage;
  wrench: Wrench;
  wrenchStamp: bigint;
  eePos: Vec3;
  eeQuat: [number, number, number, number];
  goal: Vec3;
}

const IMAGE_TYPES = ['sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'];
/** ROS 2 full names; rosbag2 of older distros and ROS 1 converters may write pkg/Type. */
const norm = (name: string): string => (/^[^/]+\/[^/]+$/.test(name) ? name.replace('/', '/msg/') : name);

const sec = (ns: bigint): number => Number(ns) / 1e9;

/** Latest entry at or before t in a log-time-sorted list, via a moving cursor (ticks come in time order). */
class Cursor<T> {
  private i = -1;
  constructor(private readonly xs: readonly Stamped<T>[]) {}
  at(t: bigint): Stamped<T> | null {
    while (this.i + 1 < this.xs.length && this.xs[this.i + 1]!.t <= t) this.i++;
    return this.i >= 0 ? this.xs[this.i]! : null;
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Decodes a camera message to RGB of size x size (centre crop to square). Errors name the topic and the encoding. */
async function decodeImage(typeName: string, m: Record<string, unknown>, size: number, where: string): Promise<RgbImage> {
  let input: Uint8Array | RgbImage;
  if (typeName === 'sensor_msgs/msg/CompressedImage') {
    input = m.data as Uint8Array;
  } else {
    const width = m.width as number;
    const height = m.height as number;
    const step = m.step as number;
    const enc = String(m.encoding);
    const data = m.data as Uint8Array;
    const layout: Record<string, { ch: number; order: number[] }> = {
      rgb8: { ch: 3, order: [0, 1, 2] },
      bgr8: { ch: 3, order: [2, 1, 0] },
      rgba8: { ch: 4, order: [0, 1, 2] },
      bgra8: { ch: 4, order: [2, 1, 0] },
      mono8: { ch: 1, order: [0, 0, 0] },
    };
    const l = layout[enc];
    if (!l) throw new ExportError(`${where}: image encoding '${enc}' is not supported (rgb8, bgr8, rgba8, bgra8, mono8)`);
    if (!(width > 0 && height > 0) || step < width * l.ch || data.length < step * height) {
      throw new ExportError(`${where}: image ${width}x${height} step ${step} (${enc}) does not fit its ${data.length} data bytes`);
    }
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const s = y * step + x * l.ch;
        const d = (y * width + x) * 3;
        rgb[d] = data[s + l.order[0]!]!;
        rgb[d + 1] = data[s + l.order[1]!]!;
        rgb[d + 2] = data[s + l.order[2]!]!;
      }
    }
    input = { width, height, data: rgb };
  }
  try {
    return await toSquareRgb(input, size);
  } catch (e) {
    throw new ExportError(`${where}: image does not decode: ${(e as Error).message}`);
  }
}

function readLabelsJson(file: string): boolean[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ExportError(`labels file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `is not JSON: ${(e as Error).message}`}`);
  }
  const arr = Array.isArray(doc) ? doc : (doc as { labels?: unknown })?.labels;
  if (!Array.isArray(arr)) throw new ExportError(`labels file ${file}: expected an array of per-episode labels or { "labels": [...] }`);
  return arr.map((v, i) => {
    if (v === true || v === 1) return true;
    if (v === false || v === 0) return false;
    throw new ExportError(`labels file ${file}: labels[${i}] must be true/false or 1/0, got ${JSON.stringify(v)}`);
  });
}

export function describeLabels(l: LabelSource): string {
  return l.kind === 'topic' ? `topic ${l.topic}` : l.kind === 'json' ? `json ${l.file}` : `final-z below ${l.below} m`;
}

/** Reads the bag, splits and labels episodes, and appends them to `db` as one session. */
export async function importBag(o: ImportOptions): Promise<ImportSummary> {
  const t0 = performance.now();
  const size = o.imageSize ?? 64;
  if (!Number.isInteger(size) || size < 8 || size > 1024) throw new ExportError(`imageSize must be an integer in [8, 1024], got ${size}`);
  if (typeof o.domain !== 'string' || o.domain === '') throw new ExportError('domain: the connector name of the recording is required');
  const grace = BigInt(Math.round((o.labelGraceS ?? 0.5) * 1e9));
  const maxSkew = BigInt(Math.round((o.maxSkewS ?? 0.2) * 1e9));
  const kp = o.kp ?? [1, 1, 0.3];
  const minTicks = Math.max(2, o.minTicks ?? 2);
  const labelsJson = o.labels.kind === 'json' ? readLabelsJson(o.labels.file) : null;

  let readable: FileReadable;
  try {
    readable = FileReadable.open(o.bag);
  } catch (e) {
    throw new ExportError(`bag ${o.bag}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`);
  }
  try {
    let reader: McapIndexedReader;
    try {
      reader = await McapIndexedReader.Initialize({ readable });
    } catch (e) {
      throw new ExportError(
        `bag ${o.bag}: not a readable indexed MCAP file (${(e as Error).message}); a recording cut off before its end has no index: \`mcap recover\` (the mcap CLI) rewrites one`,
      );
    }
    // Channels by topic, with their decoders; errors list what the bag has.
    const byTopic = new Map<string, { id: number; type: string; decode: (d: Uint8Array) => Record<string, unknown> }>();
    for (const ch of reader.channelsById.values()) {
      const schema = reader.schemasById.get(ch.schemaId);
      if (!schema) continue;
      const type = norm(schema.name);
      byTopic.set(ch.topic, {
        id: ch.id,
        type,
        decode: (d) => {
          if (ch.messageEncoding !== 'cdr' || schema.encoding !== 'ros2msg')
            throw new ExportError(`bag ${o.bag}: topic ${ch.topic} is ${ch.messageEncoding}/${schema.encoding}, not cdr/ros2msg (a ROS 2 recording)`);
          const r = ros2Reader<Record<string, unknown>>(new TextDecoder().decode(schema.data), schema.name);
          // Replace with the built reader on first use.
          const entry = byTopic.get(ch.topic)!;
          entry.decode = (x) => r.readMessage(x);
          return r.readMessage(d);
        },
      });
    }
    const have = (): string => [...byTopic.entries()].map(([t, c]) => `${t} (${c.type})`).join(', ') || 'no topics';
    const need = (role: string, topic: string, types: readonly string[]): { id: number; type: string } => {
      const c = byTopic.get(topic);
      if (!c) throw new ExportError(`bag ${o.bag}: no topic ${topic} for the ${role}; it has ${have()}`);
      if (types.length && !types.includes(c.type)) throw new ExportError(`bag ${o.bag}: topic ${topic} (${role}) is ${c.type}, expected ${types.join(' or ')}`);
      return c;
    };
    const img = need('camera', o.topics.image, IMAGE_TYPES);
    need('wrench', o.topics.wrench, ['geometry_msgs/msg/WrenchStamped']);
    need('pose', o.topics.pose, ['geometry_msgs/msg/PoseStamped']);
    if (o.topics.goal) need('goal', o.topics.goal, ['geometry_msgs/msg/PointStamped', 'geometry_msgs/msg/PoseStamped']);
    else if (!o.goal) throw new ExportError('goal: give a goal topic or a fixed goal x* (the daemon logs x* with every observation)');
    if (o.split.kind === 'marker') need('episode marker', o.split.topic, []);
    if (o.labels.kind === 'topic') need('success label', o.labels.topic, ['std_msgs/msg/Bool']);

    // Small topics, fully (sorted by log time: the reader yields in log-time order).
    const small = [
      o.topics.wrench,
      o.topics.pose,
      o.topics.goal,
      o.split.kind === 'marker' ? o.split.topic : null,
      o.labels.kind === 'topic' ? o.labels.topic : null,
    ].filter((x): x is string => !!x);
    const series = new Map<string, Stamped<Record<string, unknown>>[]>(small.map((t) => [t, []]));
    const topicOf = new Map([...byTopic.entries()].map(([t, c]) => [c.id, t]));
    try {
      for await (const m of reader.readMessages({ topics: [...new Set(small)] })) {
        const topic = topicOf.get(m.channelId)!;
        const c = byTopic.get(topic)!;
        let v: Record<string, unknown>;
        try {
          v = c.decode(m.data);
        } catch (e) {
          if (e instanceof ExportError) throw e;
          throw new ExportError(`bag ${o.bag}: a ${topic} message at log time ${m.logTime} does not decode as ${c.type}: ${(e as Error).message}`);
        }
        const h = v.header as { stamp?: { sec: number; nanosec: number } } | undefined;
        series.get(topic)!.push({ t: m.logTime, stamp: h?.stamp ? rosTimeNs(h.stamp) : m.logTime, v });
      }
    } catch (e) {
      if (e instanceof ExportError) throw e;
      throw new ExportError(`bag ${o.bag}: corrupt MCAP data: ${(e as Error).message}`);
    }
    for (const t of [o.topics.wrench, o.topics.pose, o.topics.goal]) {
      if (t && series.get(t)!.length === 0) throw new ExportError(`bag ${o.bag}: topic ${t} has no messages`);
    }
    const wrenchC = new Cursor(series.get(o.topics.wrench)!);
    const poseC = new Cursor(series.get(o.topics.pose)!);
    const goalC = o.topics.goal ? new Cursor(series.get(o.topics.goal)!) : null;

    // Camera frames -> ticks.
    const frames = { total: 0, used: 0, thinned: 0, noSensor: 0, outsideEpisodes: 0 };
    const minDt = o.hz ? BigInt(Math.round(1e9 / o.hz)) : 0n;
    const tol = minDt / 20n; // recorder jitter: a 10 Hz camera thinned to 10 Hz keeps every frame
    let lastKept: bigint | null = null;
    const ticks: Tick[] = [];
    const pending: Promise<void>[] = [];
    try {
      for await (const m of reader.readMessages({ topics: [o.topics.image] })) {
        frames.total++;
        if (lastKept !== null && m.logTime - lastKept < minDt - tol) {
          frames.thinned++;
          continue;
        }
        const w = wrenchC.at(m.logTime);
        const p = poseC.at(m.logTime);
        const g = goalC?.at(m.logTime) ?? null;
        if (!w || !p || m.logTime - w.t > maxSkew || m.logTime - p.t > maxSkew || (goalC && !g)) {
          frames.noSensor++;
          continue;
        }
        lastKept = m.logTime;
        const msg = byTopic.get(o.topics.image)!.decode(m.data);
        const h = msg.header as { stamp: { sec: number; nanosec: number } };
        const wr = w.v.wrench as { force: { x: number; y: number; z: number }; torque: { x: number; y: number; z: number } };
        const pose = p.v.pose as { position: { x: number; y: number; z: number }; orientation: { x: number; y: number; z: number; w: number } };
        let goal: Vec3;
        if (g) {
          const pt = (g.v.point ?? (g.v.pose as { position: unknown }).position) as { x: number; y: number; z: number };
          goal = [pt.x, pt.y, pt.z];
        } else goal = [...o.goal!] as Vec3;
        const tick: Tick = {
          t: m.logTime,
          imageStamp: rosTimeNs(h.stamp),
          image: { width: 0, height: 0, data: new Uint8Array(0) },
          wrench: [wr.force.x, wr.force.y, wr.force.z, wr.torque.x, wr.torque.y, wr.torque.z],
          wrenchStamp: w.stamp,
          eePos: [pose.position.x, pose.position.y, pose.position.z],
          eeQuat: [pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z],
          goal,
        };
        ticks.push(tick);
        // Decoding runs on sharp's threads while the next messages are read.
        pending.push(
          decodeImage(img.type, msg, size, `bag ${o.bag}: ${o.topics.image} at log time ${m.logTime}`).then((im) => {
            tick.image = im;
          }),
        );
        if (pending.length >= 64) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending.splice(0));
    } catch (e) {
      await Promise.allSettled(pending);
      if (e instanceof ExportError) throw e;
      throw new ExportError(`bag ${o.bag}: corrupt MCAP data: ${(e as Error).message}`);
    }
    if (ticks.length === 0)
      throw new ExportError(`bag ${o.bag}: none of the ${frames.total} frames on ${o.topics.image} has a wrench and pose within ${sec(maxSkew)} s before it`);

    // Episodes.
    const episodes: { ticks: Tick[]; windowEnd: bigint | null }[] = [];
    if (o.split.kind === 'gap') {
      const gap = BigInt(Math.round(o.split.seconds * 1e9));
      let cur: Tick[] = [];
      for (const t of ticks) {
        const prev = cur[cur.length - 1];
        if (prev && t.t - prev.t > gap) {
          episodes.push({ ticks: cur, windowEnd: t.t });
          cur = [];
        }
        cur.push(t);
      }
      episodes.push({ ticks: cur, windowEnd: null });
    } else {
      // Boundaries: start/end events in time order; ticks outside a started episode are dropped.
      const marks = series.get(o.split.topic)!.map((x) => {
        const isEnd = x.v.data === false || x.v.event === 'end';
        return { t: x.t, start: !isEnd };
      });
      if (marks.length === 0) throw new ExportError(`bag ${o.bag}: marker topic ${o.split.topic} has no messages, so no episode starts`);
      let mi = 0;
      let open: Tick[] | null = null;
      const close = (end: bigint | null): void => {
        if (open) episodes.push({ ticks: open, windowEnd: end });
        open = null;
      };
      for (const t of ticks) {
        // A start takes the frame logged at its own time; an end, only frames before it (the last frame of an
        // episode and its end marker may share a log time, as in this project's own exports).
        while (mi < marks.length && (marks[mi]!.start ? marks[mi]!.t <= t.t : marks[mi]!.t < t.t)) {
          const mk = marks[mi++]!;
          close(mk.t);
          if (mk.start) open = [];
        }
        if (open) open.push(t);
        else frames.outsideEpisodes++;
      }
      close(mi < marks.length ? marks[mi]!.t : null);
    }
    const kept = episodes.filter((e) => e.ticks.length >= minTicks);
    const skippedEpisodes = episodes.length - kept.length;
    if (kept.length === 0)
      throw new ExportError(
        `bag ${o.bag}: no episode has at least ${minTicks} ticks (${episodes.length} found by ${o.split.kind === 'gap' ? `gaps > ${o.split.seconds} s` : `markers on ${o.split.topic}`})`,
      );
    if (labelsJson && labelsJson.length !== kept.length) {
      throw new ExportError(
        `labels file ${(o.labels as { file: string }).file}: has ${labelsJson.length} labels, the bag split into ${kept.length} episodes (${skippedEpisodes} shorter than ${minTicks} ticks skipped)`,
      );
    }

    // Labels per observation, and per episode.
    const labelled = kept.map((e, k) => {
      const n = e.ticks.length;
      let obs: boolean[];
      let episode: boolean;
      if (o.labels.kind === 'final-z') {
        const below = o.labels.below;
        obs = e.ticks.map((t) => t.eePos[2] < below);
        episode = obs[n - 1]!;
      } else if (o.labels.kind === 'json') {
        episode = labelsJson![k]!;
        obs = e.ticks.map((_, i) => (i === n - 1 ? episode : false));
      } else {
        const xs = series.get(o.labels.topic)!;
        const start = e.ticks[0]!.t;
        // The label may arrive a little after the last frame (a checker node), but not from the next episode's reset.
        let end = e.ticks[n - 1]!.t + grace;
        if (e.windowEnd !== null && e.windowEnd <= end) end = e.windowEnd - 1n;
        const inWindow = xs.filter((x) => x.t >= start && x.t <= end);
        const c = new Cursor(inWindow);
        obs = e.ticks.map((t) => c.at(t.t)?.v.data === true);
        const lastMsg = inWindow[inWindow.length - 1];
        if (!lastMsg)
          throw new ExportError(`bag ${o.bag}: no message on ${o.labels.topic} during episode ${k} (log time ${start}..${end}), so it has no success label`);
        episode = lastMsg.v.data === true;
        obs[n - 1] = episode;
      }
      return { ...e, obs, episode };
    });

    // Write.
    const bagSha = await sha256File(o.bag);
    let store: Store;
    try {
      store = Store.open(o.db);
    } catch (e) {
      throw new ExportError(`db ${o.db}: ${(e as Error).message}`);
    }
    try {
      const config = {
        tool: 'import-bag',
        bag: o.bag,
        bagSha256: bagSha,
        domain: o.domain,
        topics: o.topics,
        goal: o.goal ?? null,
        split: o.split,
        labels: o.labels,
        imageSize: size,
        hz: o.hz ?? null,
        maxSkewS: sec(maxSkew),
        labelGraceS: sec(grace),
        kp,
        minTicks,
        rezero: o.rezero ?? true,
        library: reader.header.library,
        profile: reader.header.profile,
      };
      const sessionId = store.openSession({
        robot: o.robot ?? 'ros2-bag',
        backend: 'ros2-bag',
        config,
        calibration: { gains: { kp } },
        note: o.note ?? null,
        startedAt: Math.round(Number(ticks[0]!.t) / 1e6),
      });
      const out: ImportSummary['episodes'] = [];
      let transitions = 0;
      for (const e of labelled) {
        const first = e.ticks[0]!;
        const last = e.ticks[e.ticks.length - 1]!;
        const id = store.beginEpisode({
          sessionId,
          kind: 'prior',
          domain: o.domain,
          scenario: null,
          seed: null,
          policyVersion: o.controller ?? 'ros2-bag',
          startState: {
            source: 'ros2-bag',
            bag: o.bag,
            startNs: String(first.t),
            endNs: String(last.t),
            eePos: first.eePos,
            goal: first.goal,
            labelSource: describeLabels(o.labels),
          },
          startedAt: Math.round(Number(first.t) / 1e6),
        });
        const corr = new WrenchCorrector([0, 0, 0, 0, 0, 0]);
        if (o.rezero ?? true) corr.rezero(first.wrench);
        const rows: TransitionInput[] = e.ticks.map((t, i) => {
          const next = e.ticks[i + 1];
          const obs = {
            image: t.image,
            wrench: corr.correct(t.wrench),
            eePos: t.eePos,
            eeQuat: t.eeQuat,
            goal: t.goal,
            imageStamp: sec(t.imageStamp),
            wrenchStamp: sec(t.wrenchStamp),
          };
          const base = { episodeId: id, step: i, obs, tickTime: sec(t.t), wallTime: Math.round(Number(t.t) / 1e6), policyVersion: o.controller ?? 'ros2-bag' };
          if (!next) return { ...base, gtSuccess: e.obs[i]!, rewardProb: e.obs[i]! ? 1 : 0, done: true };
          const exec: Vec3 = [next.eePos[0] - t.eePos[0], next.eePos[1] - t.eePos[1], next.eePos[2] - t.eePos[2]];
          const p: Vec3 = [-kp[0] * (t.eePos[0] - t.goal[0]), -kp[1] * (t.eePos[1] - t.goal[1]), -kp[2] * (t.eePos[2] - t.goal[2])];
          const label = e.obs[i + 1]!;
          return {
            ...base,
            actionP: p,
            actionExecuted: exec,
            actionResidual: [exec[0] - p[0], exec[1] - p[1], exec[2] - p[2]],
            gtSuccess: label,
            rewardProb: label ? 1 : 0,
            done: i === e.ticks.length - 2,
          };
        });
        store.appendTransitions(rows);
        store.endEpisode(id, {
          outcome: e.episode ? 'success' : 'failure',
          reason: `label from ${describeLabels(o.labels)}`,
          gtSuccess: e.episode,
          endedAt: Math.round(Number(last.t) / 1e6),
        });
        transitions += rows.length - 1;
        out.push({ id, ticks: e.ticks.length, success: e.episode, startNs: String(first.t), endNs: String(last.t) });
      }
      store.closeSession(sessionId, Math.round(Number(ticks[ticks.length - 1]!.t) / 1e6));
      frames.used = labelled.reduce((n, e) => n + e.ticks.length, 0);
      return {
        bag: o.bag,
        db: o.db,
        sessionId,
        episodes: out,
        transitions,
        frames,
        skippedEpisodes,
        labelSource: describeLabels(o.labels),
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      store.close();
    }
  } finally {
    readable.close();
  }
}
