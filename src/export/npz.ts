/**
 * Transitions as a flat dataset: one NumPy .npz, one row per logged transition row of the selected episodes, in
 * episode then step order. Schema: NPZ_ARRAYS below (also stored in the archive as `meta`, a JSON string) and
 * src/export/README.md. Images are streamed from the log episode by episode; only the small arrays are held in memory.
 */
import type { Store } from '../store/index.ts';
import type { EpisodeRecord, TransitionRecord } from '../store/types.ts';
import { DEFAULT_PROPRIO_SPEC, ProprioBuilder } from '../policy/inputs.ts';
import { NpzLimitError, NpzWriter, bytesOf, utf32, type NpyDtype } from './npy.ts';
import { ExportError, selectEpisodes, writeAtomically } from './select.ts';

export const NPZ_FORMAT = 'insertion-daemon-transitions';
export const NPZ_VERSION = 1;

/** Proprio as the policy's input builder computes it, before its normalisation (mean 0, std 1). */
export const NPZ_PROPRIO_LAYOUT = DEFAULT_PROPRIO_SPEC.layout;

interface ArraySpec {
  dtype: string;
  shape: string;
  description: string;
}

/** The archive's members (N rows, H x W images, D domains), as documented in the `meta` member. */
export const NPZ_ARRAYS: Record<string, ArraySpec> = {
  image: { dtype: 'uint8', shape: '(N, H, W, 3)', description: 'observation camera image at this step, RGB, as logged (lossless)' },
  wrench: { dtype: 'float32', shape: '(N, 6)', description: 'bias-corrected wrist wrench fx fy fz (N) tx ty tz (N m), base frame' },
  ee_pos: { dtype: 'float32', shape: '(N, 3)', description: 'end-effector (connector tip) position x y z (m), base frame' },
  ee_quat: { dtype: 'float32', shape: '(N, 4)', description: 'end-effector orientation, unit quaternion w x y z' },
  goal: { dtype: 'float32', shape: '(N, 3)', description: 'commanded goal x* (m), base frame (may carry the calibration error)' },
  proprio: {
    dtype: 'float32',
    shape: `(N, ${DEFAULT_PROPRIO_SPEC.layout.length})`,
    description: `proprio vector, not normalised, layout ${DEFAULT_PROPRIO_SPEC.layout.join(' ')} (d = ee_pos - goal)`,
  },
  action_p: { dtype: 'float32', shape: '(N, 3)', description: 'u_H = -kp (x - x*), relative end-effector move (m); NaN where not logged' },
  action_residual: { dtype: 'float32', shape: '(N, 3)', description: 'u_theta (+ exploration noise): the action learning uses (m); NaN where not logged' },
  action_executed: { dtype: 'float32', shape: '(N, 3)', description: 'move commanded after the safety filter (m); NaN where not logged' },
  reward_prob: {
    dtype: 'float32',
    shape: '(N,)',
    description: "reward classifier's success probability on the NEXT observation (prior data: ground truth 0/1); NaN unknown",
  },
  gt_success: { dtype: 'int8', shape: '(N,)', description: 'simulator ground truth of the next observation: 1, 0, or -1 unknown (real robot)' },
  done: { dtype: 'uint8', shape: '(N,)', description: '1 at the last step of an episode, as logged' },
  is_transition: { dtype: 'uint8', shape: '(N,)', description: '1: the row has an executed action; 0: observation-only row (final observation of prior data)' },
  next_index: { dtype: 'int32', shape: '(N,)', description: 'row index of the observation at step + 1 of the same episode, -1 when not logged' },
  episode_id: { dtype: 'int64', shape: '(N,)', description: "the log's episode id" },
  step: { dtype: 'int32', shape: '(N,)', description: 'step within the episode (0-based)' },
  domain_index: { dtype: 'int32', shape: '(N,)', description: 'index into domain_names (connector)' },
  transition_id: { dtype: 'int64', shape: '(N,)', description: "the log's transition row id" },
  tick_time: { dtype: 'float64', shape: '(N,)', description: 'robot-clock time of the tick (s); NaN when not logged' },
  domain_names: { dtype: 'unicode', shape: '(D,)', description: 'connector names' },
  meta: { dtype: 'unicode', shape: '()', description: 'JSON: format, version, source, session, episodes (outcome, labels), this schema' },
};

export interface NpzExportOptions {
  store: Store;
  sessionId: number;
  episodeIds?: readonly number[];
  out: string;
  /** Deflate members (like np.savez_compressed). Default false (stored, like np.savez). */
  compress?: boolean;
  onProgress?: (p: { episodes: number; ofEpisodes: number; transitions: number }) => void;
}

export interface NpzExportSummary {
  format: 'npz';
  file: string;
  sessionId: number;
  episodes: number;
  rows: number;
  transitions: number;
  imageShape: [number, number, number];
  bytes: number;
  seconds: number;
}

const nanIfNull = (v: number | null | undefined): number => (v == null ? Number.NaN : v);

function episodeMeta(e: EpisodeRecord): Record<string, unknown> {
  return {
    id: e.id,
    kind: e.kind,
    domain: e.domain,
    scenario: e.scenario,
    seed: e.seed,
    policyVersion: e.policyVersion,
    outcome: e.outcome,
    reason: e.reason,
    learnedSuccessProb: e.learnedSuccessProb,
    gtSuccess: e.gtSuccess,
    rows: e.transitionCount,
    startState: e.startState,
  };
}

export async function exportNpz(o: NpzExportOptions): Promise<NpzExportSummary> {
  const t0 = performance.now();
  const sel = selectEpisodes(o.store, o.sessionId, o.episodeIds);
  const n = sel.transitions;
  // Image shape from the first row with an image; every row must match (a flat NHWC array has one shape).
  const firstEp = o.store.getEpisode(sel.episodes[0]!.id, { transitions: true, images: false })!;
  const r0 = firstEp.transitions!.find((t) => t.imageWidth != null);
  if (!r0) throw new ExportError(`${o.store.file}: episode ${firstEp.id} has no logged images`);
  const h = r0.imageHeight!;
  const w = r0.imageWidth!;
  const domains = [...new Set(sel.episodes.map((e) => e.domain))].sort();
  const proprio = new ProprioBuilder(
    { ...DEFAULT_PROPRIO_SPEC, mean: DEFAULT_PROPRIO_SPEC.mean.map(() => 0), std: DEFAULT_PROPRIO_SPEC.std.map(() => 1) },
    'npz export',
  );
  const P = NPZ_PROPRIO_LAYOUT.length;
  const wrench = new Float32Array(n * 6);
  const eePos = new Float32Array(n * 3);
  const eeQuat = new Float32Array(n * 4);
  const goal = new Float32Array(n * 3);
  const prop = new Float32Array(n * P);
  const aP = new Float32Array(n * 3);
  const aR = new Float32Array(n * 3);
  const aE = new Float32Array(n * 3);
  const reward = new Float32Array(n);
  const gt = new Int8Array(n);
  const done = new Uint8Array(n);
  const isTransition = new Uint8Array(n);
  const nextIndex = new Int32Array(n);
  const episodeId = new BigInt64Array(n);
  const step = new Int32Array(n);
  const domainIndex = new Int32Array(n);
  const transitionId = new BigInt64Array(n);
  const tick = new Float64Array(n);
  const setVec = (dst: Float32Array, i: number, v: readonly number[] | null, k: number): void => {
    for (let j = 0; j < k; j++) dst[i * k + j] = v == null ? Number.NaN : v[j]!;
  };
  let rows = 0;
  let bytes = 0;
  await writeAtomically(o.out, async (tmp) => {
    const npz = new NpzWriter(tmp, { compress: o.compress ?? false });
    try {
      npz.begin('image', '|u1', [n, h, w, 3]);
      let i = 0;
      for (const [k, e] of sel.episodes.entries()) {
        const ts: TransitionRecord[] = o.store.getEpisode(e.id, { transitions: true, images: true })?.transitions ?? [];
        const base = i;
        for (const [j, t] of ts.entries()) {
          const where = `${o.store.file}: transitions.id=${t.id} (episode ${e.id} step ${t.step})`;
          if (!t.image) throw new ExportError(`${where}: no image logged; the npz image array needs one per row`);
          if (t.image.width !== w || t.image.height !== h)
            throw new ExportError(
              `${where}: image is ${t.image.width}x${t.image.height}, earlier rows ${w}x${h}; export episodes of one image size at a time (--episodes)`,
            );
          npz.write(t.image.data);
          setVec(wrench, i, t.wrench, 6);
          setVec(eePos, i, t.eePos, 3);
          setVec(eeQuat, i, t.eeQuat, 4);
          setVec(goal, i, t.goal, 3);
          prop.set(proprio.build({ image: t.image, wrench: t.wrench, eePos: t.eePos, eeQuat: t.eeQuat, goal: t.goal, imageStamp: 0, wrenchStamp: 0 }), i * P);
          setVec(aP, i, t.actionP, 3);
          setVec(aR, i, t.actionResidual, 3);
          setVec(aE, i, t.actionExecuted, 3);
          reward[i] = nanIfNull(t.rewardProb);
          gt[i] = t.gtSuccess == null ? -1 : t.gtSuccess ? 1 : 0;
          done[i] = t.done ? 1 : 0;
          isTransition[i] = t.actionExecuted ? 1 : 0;
          const next = ts[j + 1];
          nextIndex[i] = next && next.step === t.step + 1 ? base + j + 1 : -1;
          episodeId[i] = BigInt(e.id);
          step[i] = t.step;
          domainIndex[i] = domains.indexOf(e.domain);
          transitionId[i] = BigInt(t.id);
          tick[i] = nanIfNull(t.tickTime);
          i++;
        }
        o.onProgress?.({ episodes: k + 1, ofEpisodes: sel.episodes.length, transitions: i });
      }
      if (i !== n)
        throw new ExportError(`${o.store.file}: session ${o.sessionId} changed while exporting (${n} rows counted, ${i} read); export a closed session`);
      rows = i;
      const add = (name: string, dtype: NpyDtype, shape: number[], a: ArrayBufferView): void => npz.add(name, dtype, shape, bytesOf(a));
      add('wrench', '<f4', [n, 6], wrench);
      add('ee_pos', '<f4', [n, 3], eePos);
      add('ee_quat', '<f4', [n, 4], eeQuat);
      add('goal', '<f4', [n, 3], goal);
      add('proprio', '<f4', [n, P], prop);
      add('action_p', '<f4', [n, 3], aP);
      add('action_residual', '<f4', [n, 3], aR);
      add('action_executed', '<f4', [n, 3], aE);
      add('reward_prob', '<f4', [n], reward);
      add('gt_success', '|i1', [n], gt);
      add('done', '|u1', [n], done);
      add('is_transition', '|u1', [n], isTransition);
      add('next_index', '<i4', [n], nextIndex);
      add('episode_id', '<i8', [n], episodeId);
      add('step', '<i4', [n], step);
      add('domain_index', '<i4', [n], domainIndex);
      add('transition_id', '<i8', [n], transitionId);
      add('tick_time', '<f8', [n], tick);
      const names = utf32(domains);
      npz.add('domain_names', names.dtype, [domains.length], names.data);
      const s = sel.session;
      const meta = utf32([
        JSON.stringify({
          format: NPZ_FORMAT,
          version: NPZ_VERSION,
          exportedAt: new Date().toISOString(),
          source: o.store.file,
          session: { id: s.id, robot: s.robot, backend: s.backend, note: s.note, startedAt: s.startedAt, endedAt: s.endedAt },
          rows: n,
          imageShape: [h, w, 3],
          proprioLayout: NPZ_PROPRIO_LAYOUT,
          domains,
          episodes: sel.episodes.map(episodeMeta),
          arrays: NPZ_ARRAYS,
        }),
      ]);
      npz.add('meta', meta.dtype, [], meta.data);
      bytes = await npz.end();
    } catch (e) {
      npz.abort();
      if (e instanceof NpzLimitError) throw new ExportError(`${e.message}; export fewer episodes at a time (--episodes)`);
      throw e;
    }
  });
  return {
    format: 'npz',
    file: o.out,
    sessionId: o.sessionId,
    episodes: sel.episodes.length,
    rows,
    transitions: isTransition.reduce((a, b) => a + b, 0),
    imageShape: [h, w, 3],
    bytes,
    seconds: (performance.now() - t0) / 1000,
  };
}
