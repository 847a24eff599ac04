/**
 * A logged session (or some of its episodes) to MCAP with ROS 2 encodings (profile 'ros2', schemas 'ros2msg',
 * messages 'cdr'), as `ros2 bag record -s mcap` writes them, so Foxglove, Lichtblick, `ros2 bag play` and the mcap
 * CLI open it. Topics and types: TOPICS below and src/export/README.md.
 *
 * Time: MCAP log time comes from the logged tick times (robot clock). A real robot's clock is epoch time and runs
 * on across episodes: then log time = tick time. The simulator's clock restarts at every episode reset: then each
 * episode is laid on one timeline, starting at its wall-clock start (or just after the previous episode, when the
 * simulation ran faster than real time) and advancing by its tick times. Header stamps (camera, wrench) are shifted
 * by the same per-episode offset, so their skew to the tick is kept. The raw robot-clock values stay in the log.
 */
import { encodePng } from '../robot/image-codec.ts';
import { McapWriter } from '@mcap/core';
import type { Store } from '../store/index.ts';
import type { EpisodeRecord, TransitionRecord } from '../store/types.ts';
import type { Vec3 } from '../core/types.ts';
import { FileWritable } from './files.ts';
import { ros2Type, rosTime, secToNs, type Ros2Type } from '../ros2/msgfile.ts';
import { type Selection, selectEpisodes, writeAtomically } from './select.ts';

/** Topic -> ROS 2 type, in the order channels are registered. */
export const TOPICS = {
  '/camera/image/compressed': 'sensor_msgs/msg/CompressedImage',
  '/wrist/wrench': 'geometry_msgs/msg/WrenchStamped',
  '/ee/pose': 'geometry_msgs/msg/PoseStamped',
  '/goal': 'geometry_msgs/msg/PointStamped',
  '/command/p': 'geometry_msgs/msg/Vector3Stamped',
  '/command/residual': 'geometry_msgs/msg/Vector3Stamped',
  '/command/executed': 'geometry_msgs/msg/Vector3Stamped',
  '/reward/probability': 'std_msgs/msg/Float32',
  '/reward/ground_truth': 'std_msgs/msg/Bool',
  '/episode': 'insertion_daemon/msg/EpisodeEvent',
} as const;
export type Topic = keyof typeof TOPICS;

/** Frame ids: vectors are in the robot base frame (z up); images in the camera's optical frame. */
export const BASE_FRAME = 'base';
export const CAMERA_FRAME = 'camera';
/** Name of the MCAP metadata record that carries the session row. */
export const SESSION_METADATA = 'insertion_daemon/session';

export type Timeline = 'robot-clock' | 'anchored';

export interface McapExportOptions {
  store: Store;
  sessionId: number;
  /** Default: every episode of the session. */
  episodeIds?: readonly number[];
  out: string;
  /** MCAP chunk size in bytes (default 4 MiB). */
  chunkSize?: number;
  onProgress?: (p: { episodes: number; ofEpisodes: number; transitions: number }) => void;
}

export interface McapExportSummary {
  format: 'mcap';
  file: string;
  sessionId: number;
  episodes: number;
  transitions: number;
  messages: Record<string, number>;
  timeline: Timeline;
  startNs: string;
  endNs: string;
  bytes: number;
  seconds: number;
}

/** 'robot-clock' when every logged tick time looks like epoch seconds and they increase across the selection. */
export function chooseTimeline(store: Store, sel: Selection): Timeline {
  let prev = -Infinity;
  for (const e of sel.episodes) {
    const ep = store.getEpisode(e.id, { transitions: true, images: false });
    for (const t of ep?.transitions ?? []) {
      if (t.tickTime == null || !(t.tickTime > 1e9) || !(t.tickTime > prev)) return 'anchored';
      prev = t.tickTime;
    }
  }
  return 'robot-clock';
}

/** Maps one episode's robot-clock seconds to MCAP nanoseconds. */
export interface EpisodeClock {
  /** Log time of a row. */
  log(t: TransitionRecord): bigint;
  /** A header stamp (robot-clock seconds; null: the row's log time). */
  stamp(s: number | null, t: TransitionRecord): bigint;
}

/** Per-episode clocks on one timeline; `after` is the previous episode's last log time (0n for the first). */
export function episodeClock(timeline: Timeline, e: EpisodeRecord, rows: readonly TransitionRecord[], after: bigint): EpisodeClock {
  if (timeline === 'robot-clock') {
    return { log: (t) => secToNs(t.tickTime!), stamp: (s, t) => (s == null ? secToNs(t.tickTime!) : secToNs(s)) };
  }
  const gap = 1_000_000n; // 1 ms between episodes laid end to end
  const base = BigInt(e.startedAt) * 1_000_000n > after + gap ? BigInt(e.startedAt) * 1_000_000n : after + gap;
  if (rows.every((t) => t.tickTime != null)) {
    const t0 = secToNs(rows[0]!.tickTime!);
    const off = base - t0;
    return { log: (t) => off + secToNs(t.tickTime!), stamp: (s, t) => off + secToNs(s ?? t.tickTime!) };
  }
  // No tick times logged: wall clock, kept increasing.
  const w0 = BigInt(rows[0]!.wallTime) * 1_000_000n;
  const log = (t: TransitionRecord): bigint => base + BigInt(t.wallTime) * 1_000_000n - w0;
  return { log, stamp: (_s, t) => log(t) };
}

const vec3 = (v: Vec3): { x: number; y: number; z: number } => ({ x: v[0], y: v[1], z: v[2] });
const header = (ns: bigint, frame: string): { stamp: { sec: number; nanosec: number }; frame_id: string } => ({ stamp: rosTime(ns), frame_id: frame });

async function pngOf(t: TransitionRecord): Promise<Uint8Array | null> {
  const img = t.image;
  if (!img) return null;
  // Level 6 is sharp's default trade-off; the adaptive filter suits camera frames.
  return encodePng(img);
}

function episodeEvent(event: 'start' | 'end', e: EpisodeRecord, ns: bigint): Record<string, unknown> {
  const end = event === 'end';
  return {
    header: header(ns, BASE_FRAME),
    event,
    session_id: e.sessionId,
    episode_id: e.id,
    kind: e.kind,
    domain: e.domain,
    scenario: e.scenario ?? '',
    seed: BigInt(e.seed ?? -1),
    policy_version: e.policyVersion ?? '',
    outcome: end ? (e.outcome ?? '') : '',
    reason: end ? (e.reason ?? '') : '',
    learned_success_prob: end && e.learnedSuccessProb != null ? e.learnedSuccessProb : Number.NaN,
    gt_success: end && e.gtSuccess != null ? (e.gtSuccess ? 1 : 0) : -1,
    steps: e.transitionCount,
  };
}

/** Writes the selection to `out`. Errors (ExportError) name the database, the session or the file. */
export async function exportMcap(o: McapExportOptions): Promise<McapExportSummary> {
  const t0 = performance.now();
  const sel = selectEpisodes(o.store, o.sessionId, o.episodeIds);
  const timeline = chooseTimeline(o.store, sel);
  const counts: Record<string, number> = {};
  let first = -1n;
  let last = 0n;
  let bytes = 0;
  await writeAtomically(o.out, async (tmp) => {
    const file = FileWritable.create(tmp);
    try {
      const writer = new McapWriter({
        writable: file,
        chunkSize: o.chunkSize ?? 4 * 1024 * 1024,
        useStatistics: true,
        useSummaryOffsets: true,
        useChunkIndex: true,
        useMessageIndex: true,
      });
      await writer.start({ profile: 'ros2', library: 'insertion-daemon export (@mcap/core)' });
      const s = sel.session;
      await writer.addMetadata({
        name: SESSION_METADATA,
        metadata: new Map([
          ['session_id', String(s.id)],
          ['robot', s.robot],
          ['backend', s.backend],
          ['note', s.note ?? ''],
          ['started_at_ms', String(s.startedAt)],
          ['ended_at_ms', s.endedAt == null ? '' : String(s.endedAt)],
          ['source_db', o.store.file],
          ['timeline', timeline],
          ['episodes', sel.episodes.map((e) => e.id).join(',')],
          ['config_json', JSON.stringify(s.config)],
          ['calibration_json', JSON.stringify(s.calibration)],
        ]),
      });
      // One schema per type, shared by its topics.
      const types = new Map<string, { type: Ros2Type; schemaId: number }>();
      const channel = new Map<Topic, { id: number; type: Ros2Type; seq: number }>();
      for (const [topic, typeName] of Object.entries(TOPICS) as [Topic, string][]) {
        let t = types.get(typeName);
        if (!t) {
          const type = ros2Type(typeName);
          t = { type, schemaId: await writer.registerSchema({ name: typeName, encoding: 'ros2msg', data: new TextEncoder().encode(type.text) }) };
          types.set(typeName, t);
        }
        const { type, schemaId } = t;
        const id = await writer.registerChannel({ topic, schemaId, messageEncoding: 'cdr', metadata: new Map() });
        channel.set(topic, { id, type, seq: 0 });
        counts[topic] = 0;
      }
      const put = async (topic: Topic, ns: bigint, msg: unknown): Promise<void> => {
        const c = channel.get(topic)!;
        await writer.addMessage({ channelId: c.id, sequence: c.seq++, logTime: ns, publishTime: ns, data: c.type.writer.writeMessage(msg) });
        counts[topic]!++;
        if (first < 0n) first = ns;
        last = ns;
      };
      let after = 0n;
      let done = 0;
      // sharp encodes on its own threads: the next episode's frames are encoded while this one is serialised.
      const load = (e: EpisodeRecord): { rows: TransitionRecord[]; pngs: Promise<(Uint8Array | null)[]> } => {
        const rows = o.store.getEpisode(e.id, { transitions: true, images: true })?.transitions ?? [];
        const pngs = Promise.all(rows.map(pngOf));
        pngs.catch(() => undefined); // awaited below; an early error elsewhere must not leave it unhandled
        return { rows, pngs };
      };
      let next = load(sel.episodes[0]!);
      for (const [k, e] of sel.episodes.entries()) {
        const { rows, pngs: pending } = next;
        const following = sel.episodes[k + 1];
        if (following) next = load(following);
        const clock = episodeClock(timeline, e, rows, after);
        const pngs = await pending;
        await put('/episode', clock.log(rows[0]!), episodeEvent('start', e, clock.log(rows[0]!)));
        for (const [i, t] of rows.entries()) {
          const ns = clock.log(t);
          const png = pngs[i];
          if (png) await put('/camera/image/compressed', ns, { header: header(clock.stamp(t.imageStamp, t), CAMERA_FRAME), format: 'png', data: png });
          await put('/wrist/wrench', ns, {
            header: header(clock.stamp(t.wrenchStamp, t), BASE_FRAME),
            wrench: { force: vec3([t.wrench[0], t.wrench[1], t.wrench[2]]), torque: vec3([t.wrench[3], t.wrench[4], t.wrench[5]]) },
          });
          const [qw, qx, qy, qz] = t.eeQuat;
          await put('/ee/pose', ns, { header: header(ns, BASE_FRAME), pose: { position: vec3(t.eePos), orientation: { x: qx, y: qy, z: qz, w: qw } } });
          await put('/goal', ns, { header: header(ns, BASE_FRAME), point: vec3(t.goal) });
          if (t.actionP) await put('/command/p', ns, { header: header(ns, BASE_FRAME), vector: vec3(t.actionP) });
          if (t.actionResidual) await put('/command/residual', ns, { header: header(ns, BASE_FRAME), vector: vec3(t.actionResidual) });
          if (t.actionExecuted) await put('/command/executed', ns, { header: header(ns, BASE_FRAME), vector: vec3(t.actionExecuted) });
          if (t.rewardProb != null) await put('/reward/probability', ns, { data: t.rewardProb });
          if (t.gtSuccess != null) await put('/reward/ground_truth', ns, { data: t.gtSuccess });
        }
        const endNs = clock.log(rows[rows.length - 1]!);
        await put('/episode', endNs, episodeEvent('end', e, endNs));
        after = endNs;
        done += rows.length;
        o.onProgress?.({ episodes: k + 1, ofEpisodes: sel.episodes.length, transitions: done });
      }
      await writer.end();
      bytes = Number(file.position());
    } finally {
      file.close();
    }
  });
  return {
    format: 'mcap',
    file: o.out,
    sessionId: o.sessionId,
    episodes: sel.episodes.length,
    transitions: sel.transitions,
    messages: counts,
    timeline,
    startNs: String(first),
    endNs: String(last),
    bytes,
    seconds: (performance.now() - t0) / 1000,
  };
}
