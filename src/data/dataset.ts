/**
 * The bridge from the SQLite log (src/store) to the learners (src/learn): plain typed arrays, never tensors (the
 * wasm heap never shrinks), images kept as uint8 (12 KB per 64x64 frame) and converted per batch.
 *
 * Reading the log (prior data and daemon episodes alike; see src/data/collect.ts for the row layout):
 * - a row with an executed/residual action is a transition: obs_t, residual action, labels of obs_{t+1}
 *   (gtSuccess from ground truth, rewardProb from the reward model or, for prior data, ground truth), done;
 * - a row without actions is an observation only (the prior collector's final row, step = L);
 * - next observation of row t = the observation of row t+1 of the same episode; the last transition of an episode
 *   is done, and when its next observation was not logged (daemon episodes have no final row) its next index points
 *   at its own observation (any value is fine: (1 - done) masks it in the TD target).
 * - the label of the observation at row t >= 1 is the next-observation label of row t-1; the first observation's
 *   label comes from the episode's startState.gtSuccess (prior data) when present.
 *
 * Images and proprioception are made by the models' one input pipeline (src/policy/inputs.ts), so that training and
 * the control tick see the same input.
 */
import type { IqlBatch } from '../learn/iql.ts';
import type { LabelledImages } from '../learn/daib.ts';
import { DEFAULT_PROPRIO_SPEC, modelImageBytes, ProprioBuilder, type ProprioSpec } from '../policy/inputs.ts';
import type { Observation, RgbImage } from '../core/types.ts';
import type { Store } from '../store/index.ts';
import type { EpisodeKind, EpisodeRecord, TransitionRecord } from '../store/types.ts';
import { Rng } from '../util/rng.ts';
import { learningReward } from './labels.ts';


/** Where a success label comes from. 'gt': ground truth (prior data, simulation); 'reward': rewardProb >= threshold. */
export type LabelSource = 'gt' | 'reward';

export class DatasetError extends Error {
  override name = 'DatasetError';
}

function copyImage(img: RgbImage | null, size: number, out: Uint8Array, offset: number, where: string): void {
  if (!img) throw new DatasetError(`${where}: row has no image`);
  modelImageBytes(img, size, size, out, offset);
}

// ----------------------------------------------------------------------------------------------------------------
// Episode scan (no pixels): which rows exist, their labels

interface ScannedRow {
  id: number;
  step: number;
  isTransition: boolean;
  /** Label of this row's observation (null: unknown). */
  obsLabel: boolean | null;
  /** Label of the next observation (transitions). */
  nextLabel: boolean | null;
  rewardProb: number | null;
  done: boolean;
}

interface ScannedEpisode {
  record: EpisodeRecord;
  domain: number;
  rows: ScannedRow[];
}

function labelOf(t: TransitionRecord, source: LabelSource, threshold: number): boolean | null {
  if (source === 'gt') return t.gtSuccess;
  return t.rewardProb == null ? null : t.rewardProb >= threshold;
}

function checkDomains(domains: readonly string[], where: string): void {
  if (domains.length === 0) throw new DatasetError(`${where}: domains is empty`);
  const d = domains.find((x, i) => domains.indexOf(x) !== i);
  if (d !== undefined) throw new DatasetError(`${where}: domain "${d}" listed twice`);
}

function checkSize(size: number, where: string): void {
  if (!Number.isInteger(size) || size < 1 || size > 512) throw new DatasetError(`${where}: imageSize must be an integer in [1, 512], got ${size}`);
}

/** Usable episodes of the store for `domains` (ended; outcome not 'error'), rows in step order, without pixels. */
function scanEpisodes(
  store: Store, domains: readonly string[], kinds: readonly EpisodeKind[], source: LabelSource, threshold: number, policies?: readonly (string | null)[],
): ScannedEpisode[] {
  const index = new Map(domains.map((d, i) => [d, i]));
  const out: ScannedEpisode[] = [];
  for (const ep of store.iterateEpisodes({ domain: domains, kind: kinds, endedOnly: true }, { images: false })) {
    if (ep.outcome === 'error') continue; // a fault or a killed writer: rows may be incomplete
    if (policies && !policies.includes(ep.policyVersion)) continue;
    const rows: ScannedRow[] = [];
    const st = ep.startState as { gtSuccess?: unknown } | null;
    let prevNext: boolean | null = source === 'gt' && st && typeof st.gtSuccess === 'boolean' ? st.gtSuccess : null;
    let prevStep = -1;
    for (const t of ep.transitions) {
      if (t.step !== prevStep + 1) prevNext = null; // a gap (dropped row): the previous label is not this row's
      prevStep = t.step;
      const isTransition = t.actionResidual !== null;
      // The final (observation-only) row carries its own observation's label.
      const own = labelOf(t, source, threshold);
      const obsLabel = isTransition ? prevNext : (prevNext ?? own);
      rows.push({ id: t.id, step: t.step, isTransition, obsLabel, nextLabel: isTransition ? own : null, rewardProb: t.rewardProb, done: t.done });
      prevNext = isTransition ? own : null;
    }
    out.push({ record: ep, domain: index.get(ep.domain)!, rows });
  }
  return out;
}

/** Reads rows by id in chunks and hands each (with its decoded image) to `fn`. */
function forEachRow(store: Store, ids: readonly number[], fn: (t: TransitionRecord, i: number) => void, chunk = 512): void {
  for (let s = 0; s < ids.length; s += chunk) {
    const part = ids.slice(s, s + chunk);
    const rows = store.getTransitions(part, { images: true });
    if (rows.length !== part.length) throw new DatasetError(`${store.file}: ${part.length - rows.length} transition rows vanished while loading`);
    rows.forEach((t, j) => fn(t, s + j));
  }
}

// ----------------------------------------------------------------------------------------------------------------
// (a) Labelled images for the DAIB reward classifier

export interface LoadImagesOptions {
  /** Connector names; domain id = position in this list (stable: pass the same list for train and evaluation). */
  domains: readonly string[];
  /** Model input side (px); logged images are resized when they differ. */
  imageSize: number;
  /** Episode kinds to read (default ['prior']). */
  kinds?: readonly EpisodeKind[];
  /** Label source (default 'gt'). 'reward' thresholds rewardProb (the daemon's learned labels). */
  labels?: LabelSource;
  rewardThreshold?: number;
  /** Only episodes whose policyVersion (prior data: the controller name, e.g. 'expert') is listed. Default: all. */
  policyVersions?: readonly (string | null)[];
  /** Per domain, keep as many positives as negatives (random subset of the larger class). Default false. A domain
   *  with only one class stays as it is (see perDomain). */
  balance?: boolean;
  /** Per domain cap on samples (random subset, after balancing). */
  maxPerDomain?: number;
  /** Seed of the subsets. */
  seed?: number;
  /** Also build each observation's proprio vector (the model card's spec, by policy/inputs.ts), for a classifier that
   *  takes one beside the image. */
  proprio?: ProprioSpec;
}

export interface DomainCounts {
  name: string;
  episodes: number;
  /** Labelled observations available, and kept. */
  available: number;
  positives: number;
  negatives: number;
}

export type LoadedImages = LabelledImages & {
  domainNames: string[];
  /** Store row id of each sample (for tracing a sample back to its episode). */
  transitionId: Int32Array;
  /**
   * Tip height above the fully seated position (m) where the log knows the true socket (simulated prior data keeps it
   * in the episode's start state), NaN elsewhere: how near a negative was to seated, for error analysis.
   */
  aboveSeated: Float32Array;
  perDomain: DomainCounts[];
};

/** Labelled observation images of `domains` (every observation whose label is known), as DAIB's LabelledImages. */
export function loadLabelledImages(store: Store, o: LoadImagesOptions): LoadedImages {
  const where = `loadLabelledImages(${store.file})`;
  checkDomains(o.domains, where);
  checkSize(o.imageSize, where);
  const rng = new Rng(o.seed ?? 0);
  const eps = scanEpisodes(store, o.domains, o.kinds ?? ['prior'], o.labels ?? 'gt', o.rewardThreshold ?? 0.5, o.policyVersions);
  const pos: number[][] = o.domains.map(() => []);
  const neg: number[][] = o.domains.map(() => []);
  const episodes = o.domains.map(() => 0);
  const seatedZ = new Map<number, number>();
  for (const e of eps) {
    episodes[e.domain]!++;
    const z = seatedHeight(e.record.startState);
    for (const r of e.rows) {
      if (r.obsLabel === null) continue;
      (r.obsLabel ? pos : neg)[e.domain]!.push(r.id);
      if (z !== null) seatedZ.set(r.id, z);
    }
  }
  const perDomain: DomainCounts[] = [];
  const chosen: Array<{ id: number; success: number; domain: number }> = [];
  o.domains.forEach((name, d) => {
    let p = pos[d]!, n = neg[d]!;
    const available = p.length + n.length;
    if (o.balance && p.length > 0 && n.length > 0) {
      const k = Math.min(p.length, n.length);
      p = sample(p, k, rng);
      n = sample(n, k, rng);
    }
    let both = [...p.map((id) => ({ id, success: 1, domain: d })), ...n.map((id) => ({ id, success: 0, domain: d }))];
    if (o.maxPerDomain !== undefined && both.length > o.maxPerDomain) {
      // Keep the class ratio when capping.
      const kp = Math.round((o.maxPerDomain * p.length) / both.length);
      both = [...sample(p, kp, rng).map((id) => ({ id, success: 1, domain: d })), ...sample(n, o.maxPerDomain - kp, rng).map((id) => ({ id, success: 0, domain: d }))];
    }
    both.sort((a, b) => a.id - b.id);
    chosen.push(...both);
    perDomain.push({ name, episodes: episodes[d]!, available, positives: both.filter((x) => x.success).length, negatives: both.filter((x) => !x.success).length });
  });
  if (chosen.length === 0) throw new DatasetError(`${where}: no labelled observations for ${o.domains.join(', ')} (kinds ${(o.kinds ?? ['prior']).join(',')})`);
  chosen.sort((a, b) => a.id - b.id);
  const size = o.imageSize;
  const px = size * size * 3;
  const images = new Uint8Array(chosen.length * px);
  const aboveSeated = new Float32Array(chosen.length).fill(NaN);
  const builder = o.proprio ? new ProprioBuilder(o.proprio, where) : null;
  const pd = o.proprio?.layout.length ?? 0;
  const proprio = builder ? new Float32Array(chosen.length * pd) : null;
  forEachRow(store, chosen.map((c) => c.id), (t, i) => {
    copyImage(t.image, size, images, i * px, `${store.file}: transitions.id=${t.id}`);
    if (builder && proprio) proprio.set(builder.build(observationOf(t)), i * pd);
    const z = seatedZ.get(t.id);
    if (z !== undefined) aboveSeated[i] = t.eePos[2] - z;
  });
  return {
    ...(proprio ? { proprio } : {}),
    count: chosen.length,
    shape: [size, size, 3],
    images,
    success: Uint8Array.from(chosen, (c) => c.success),
    domain: Int32Array.from(chosen, (c) => c.domain),
    domainNames: [...o.domains],
    transitionId: Int32Array.from(chosen, (c) => c.id),
    aboveSeated,
    perDomain,
  };
}

/** The seated tip height from a simulated episode's start state (its true socket position), or null. */
function seatedHeight(startState: unknown): number | null {
  const sp = (startState as { socketPos?: unknown } | null)?.socketPos;
  return Array.isArray(sp) && sp.length === 3 && typeof sp[2] === 'number' && Number.isFinite(sp[2]) ? sp[2] : null;
}

/** k distinct elements of xs, in their original order (seeded partial Fisher-Yates). */
function sample(xs: readonly number[], k: number, rng: Rng): number[] {
  if (k >= xs.length) return [...xs];
  const a = [...xs];
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k).sort((x, y) => x - y);
}

// ----------------------------------------------------------------------------------------------------------------
// (b) Offline replay for IQL

/** Where the reward of a transition comes from. */
export type RewardSource =
  /** rewardProb as logged: the learned probability on the daemon's episodes, ground truth 0/1 on prior data
   *  (the thesis: r_hat = R(F(s'))). Rows without it fall back to gtSuccess, else are dropped. */
  | 'rewardProb'
  /** Ground truth of the next observation (prior data, simulation only). */
  | 'gt'
  /** rewardProb >= rewardThreshold as 0/1. */
  | 'rewardThreshold';

export interface LoadTransitionsOptions {
  domains: readonly string[];
  /** Model input side (px); 0 = no images (proprio-only or feature-mode loaders). */
  imageSize: number;
  /** Episode kinds (default ['prior']). */
  kinds?: readonly EpisodeKind[];
  /** Default 'rewardProb'. */
  reward?: RewardSource;
  rewardThreshold?: number;
  /** Label source of the observations' success labels (IqlBatch.success, the encoders' auxiliary head). Default 'gt'. */
  labels?: LabelSource;
  /** Only episodes whose policyVersion (prior data: the controller name) is listed. Default: all. */
  policyVersions?: readonly (string | null)[];
  /** Proprio layout/normalisation, as in the policy's card (default DEFAULT_PROPRIO_SPEC). */
  proprio?: ProprioSpec;
}

/**
 * Observations are stored once (an episode of L steps has L+1 observations with the final row); transitions index
 * them. Memory: imageSize^2 * 3 bytes per observation (12 KB at 64x64).
 */
export interface TransitionDataset {
  /** Number of transitions. */
  count: number;
  /** Number of observations. */
  obsCount: number;
  /** [h, w, 3] of obsImages (h = w = 0 without images). */
  shape: [number, number, number];
  /** obsCount * h*w*3, uint8 RGB. */
  obsImages: Uint8Array;
  /** obsCount * proprioDim, from the daemon's ProprioBuilder. */
  obsProprio: Float32Array;
  proprioDim: number;
  proprio: ProprioSpec;
  /** Success label of each observation (0/1), and whether it is known (1) or filled with 0 (0). */
  obsSuccess: Uint8Array;
  obsLabelKnown: Uint8Array;
  /** Per transition: observation index of s and of s'. */
  obs: Int32Array;
  nextObs: Int32Array;
  /** count * 3: residual action in metres (IqlAgent scales by actionScale and clips to [-1, 1]). */
  action: Float32Array;
  reward: Float32Array;
  /** 1 at the last step of an episode. */
  done: Uint8Array;
  /** Domain index (into domainNames) per transition. */
  domain: Int32Array;
  domainNames: string[];
  episodeId: Int32Array;
  step: Int32Array;
  /** Store row id of each transition. */
  transitionId: Int32Array;
  /** Transitions dropped for want of a reward. */
  droppedNoReward: number;
  episodes: number;
}

/** A logged row as the observation it was made from (its image is the logged one). */
export function observationOf(t: TransitionRecord): Observation {
  return {
    image: t.image ?? { width: 0, height: 0, data: new Uint8Array(0) },
    ...(t.depth ? { depth: t.depth } : {}),
    wrench: t.wrench,
    eePos: t.eePos,
    eeQuat: t.eeQuat,
    goal: t.goal,
    imageStamp: t.imageStamp ?? 0,
    wrenchStamp: t.wrenchStamp ?? 0,
  };
}

/** The offline replay of `domains`: every logged transition with its next observation, reward and done. */
export function loadTransitions(store: Store, o: LoadTransitionsOptions): TransitionDataset {
  const where = `loadTransitions(${store.file})`;
  checkDomains(o.domains, where);
  if (o.imageSize !== 0) checkSize(o.imageSize, where);
  const rewardSource = o.reward ?? 'rewardProb';
  if (!['rewardProb', 'gt', 'rewardThreshold'].includes(rewardSource)) throw new DatasetError(`${where}: reward must be rewardProb | gt | rewardThreshold, got ${JSON.stringify(rewardSource)}`);
  const threshold = o.rewardThreshold ?? 0.5;
  const spec = o.proprio ?? DEFAULT_PROPRIO_SPEC;
  const builder = new ProprioBuilder(spec, where);
  const pdim = spec.layout.length;
  const eps = scanEpisodes(store, o.domains, o.kinds ?? ['prior'], o.labels ?? 'gt', 0.5, o.policyVersions);
  const obsIds: number[] = [];
  const obsLabel: Array<boolean | null> = [];
  const tObs: number[] = [];
  const tNext: number[] = [];
  const tRowId: number[] = [];
  const tDone: number[] = [];
  const tDomain: number[] = [];
  const tEpisode: number[] = [];
  const tStep: number[] = [];
  const tLast: boolean[] = [];
  for (const e of eps) {
    const base = obsIds.length;
    e.rows.forEach((r) => {
      obsIds.push(r.id);
      obsLabel.push(r.obsLabel);
    });
    e.rows.forEach((r, k) => {
      if (!r.isTransition) return;
      const next = e.rows[k + 1];
      const contiguous = next !== undefined && next.step === r.step + 1;
      tObs.push(base + k);
      tNext.push(contiguous ? base + k + 1 : base + k);
      tRowId.push(r.id);
      // Done at the episode's last transition, whatever the row says (a daemon row of a tripped episode says so too).
      const last = !e.rows.slice(k + 1).some((x) => x.isTransition);
      tDone.push(r.done || last || !contiguous ? 1 : 0);
      tLast.push(last);
      tDomain.push(e.domain);
      tEpisode.push(e.record.id);
      tStep.push(r.step);
    });
  }
  if (tObs.length === 0) throw new DatasetError(`${where}: no transitions for ${o.domains.join(', ')} (kinds ${(o.kinds ?? ['prior']).join(',')})`);
  const size = o.imageSize;
  const px = size * size * 3;
  const obsImages = new Uint8Array(obsIds.length * px);
  const obsProprio = new Float32Array(obsIds.length * pdim);
  const rowIndex = new Map<number, number>();
  obsIds.forEach((id, i) => rowIndex.set(id, i));
  const action = new Float32Array(tObs.length * 3);
  const fieldsOf = new Map<number, { rewardProb: number | null; gtSuccess: boolean | null }>();
  const actOf = new Map<number, [number, number, number]>();
  forEachRow(store, obsIds, (t, i) => {
    if (size > 0) copyImage(t.image, size, obsImages, i * px, `${store.file}: transitions.id=${t.id}`);
    obsProprio.set(builder.build(observationOf(t)), i * pdim);
    if (t.actionResidual) {
      actOf.set(t.id, t.actionResidual);
      fieldsOf.set(t.id, { rewardProb: t.rewardProb, gtSuccess: t.gtSuccess });
    }
  });
  // The reward through the one rule (learned, ground truth, operator label: data/labels.ts); drop transitions without one.
  const labels = new Map<number, boolean | null>();
  const labelOfEpisode = (id: number): boolean | null => {
    if (!labels.has(id)) labels.set(id, store.episodeLabel(id)?.success ?? null);
    return labels.get(id) ?? null;
  };
  const rewardOf = new Map<number, number | null>();
  tRowId.forEach((id, j) => {
    const f = fieldsOf.get(id);
    rewardOf.set(id, f ? learningReward(f, { source: rewardSource, threshold, label: labelOfEpisode(tEpisode[j]!), last: tLast[j]! }) : null);
  });
  const keep: number[] = [];
  tRowId.forEach((id, j) => {
    if (rewardOf.get(id) != null) keep.push(j);
  });
  const n = keep.length;
  if (n === 0) throw new DatasetError(`${where}: none of the ${tRowId.length} transitions has a reward under reward source '${rewardSource}'`);
  const reward = new Float32Array(n);
  keep.forEach((j, i) => {
    const id = tRowId[j]!;
    reward[i] = rewardOf.get(id)!;
    action.set(actOf.get(id)!, i * 3);
  });
  const pick = (xs: number[]): Int32Array => Int32Array.from(keep, (j) => xs[j]!);
  return {
    count: n,
    obsCount: obsIds.length,
    shape: [size, size, size > 0 ? 3 : 0],
    obsImages,
    obsProprio,
    proprioDim: pdim,
    proprio: { layout: [...spec.layout], mean: [...spec.mean], std: [...spec.std] },
    obsSuccess: Uint8Array.from(obsLabel, (l) => (l ? 1 : 0)),
    obsLabelKnown: Uint8Array.from(obsLabel, (l) => (l === null ? 0 : 1)),
    obs: pick(tObs),
    nextObs: pick(tNext),
    action: action.slice(0, n * 3),
    reward,
    done: Uint8Array.from(keep, (j) => tDone[j]!),
    domain: pick(tDomain),
    domainNames: [...o.domains],
    episodeId: pick(tEpisode),
    step: pick(tStep),
    transitionId: pick(tRowId),
    droppedNoReward: tRowId.length - n,
    episodes: eps.length,
  };
}

// ----------------------------------------------------------------------------------------------------------------
// Sampler

export interface SamplerOptions {
  /** Seed of the index stream. */
  seed: number;
  /** Default batch size of sample(). */
  batchSize?: number;
  /** Sets IqlBatch.augment (offline data: true; online data: false). Default true. */
  augment?: boolean;
  /** Include images (default: when the dataset has them). */
  images?: boolean;
}

/**
 * Uniform minibatches of a TransitionDataset as IqlBatch (fresh arrays per batch: the learner may keep them).
 * Deterministic under the seed.
 */
export class TransitionSampler {
  private readonly rng: Rng;
  readonly batchSize: number;
  private readonly augment: boolean;
  private readonly images: boolean;

  constructor(
    readonly data: TransitionDataset,
    o: SamplerOptions,
  ) {
    if (data.count <= 0) throw new DatasetError('TransitionSampler: empty dataset');
    this.rng = new Rng(o.seed);
    this.batchSize = o.batchSize ?? 256;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new DatasetError(`TransitionSampler: batchSize must be a positive integer, got ${this.batchSize}`);
    this.augment = o.augment ?? true;
    this.images = (o.images ?? true) && data.shape[0] > 0;
  }

  /** Indices of the next batch (advances the stream). */
  nextIndices(size = this.batchSize): Int32Array {
    const idx = new Int32Array(size);
    for (let i = 0; i < size; i++) idx[i] = this.rng.int(this.data.count);
    return idx;
  }

  sample(size = this.batchSize): IqlBatch {
    return this.batch(this.nextIndices(size));
  }

  /** The batch of the given transition indices. */
  batch(idx: Int32Array): IqlBatch {
    const d = this.data;
    const size = idx.length;
    const px = d.shape[0] * d.shape[1] * d.shape[2];
    const pd = d.proprioDim;
    const proprio = new Float32Array(size * pd);
    const nextProprio = new Float32Array(size * pd);
    const action = new Float32Array(size * 3);
    const reward = new Float32Array(size);
    const done = new Float32Array(size);
    const success = new Uint8Array(size);
    const domain = new Int32Array(size);
    const images = this.images ? new Uint8Array(size * px) : undefined;
    const nextImages = this.images ? new Uint8Array(size * px) : undefined;
    for (let b = 0; b < size; b++) {
      const i = idx[b]!;
      const s = d.obs[i]!;
      const s2 = d.nextObs[i]!;
      proprio.set(d.obsProprio.subarray(s * pd, (s + 1) * pd), b * pd);
      nextProprio.set(d.obsProprio.subarray(s2 * pd, (s2 + 1) * pd), b * pd);
      action.set(d.action.subarray(i * 3, i * 3 + 3), b * 3);
      reward[b] = d.reward[i]!;
      done[b] = d.done[i]!;
      success[b] = d.obsSuccess[s]!;
      domain[b] = d.domain[i]!;
      if (images && nextImages) {
        images.set(d.obsImages.subarray(s * px, (s + 1) * px), b * px);
        nextImages.set(d.obsImages.subarray(s2 * px, (s2 + 1) * px), b * px);
      }
    }
    const out: IqlBatch = { size, action, reward, done, success, domain, augment: this.augment };
    if (pd > 0) {
      out.proprio = proprio;
      out.nextProprio = nextProprio;
    }
    if (images && nextImages) {
      out.images = images;
      out.nextImages = nextImages;
    }
    return out;
  }
}

/** Summary of a TransitionDataset (for logs and model cards). */
export function describeTransitions(d: TransitionDataset): { transitions: number; observations: number; episodes: number; rewardMean: number; doneCount: number; perDomain: Record<string, number> } {
  const perDomain: Record<string, number> = {};
  for (const name of d.domainNames) perDomain[name] = 0;
  for (let i = 0; i < d.count; i++) perDomain[d.domainNames[d.domain[i]!]!]! += 1;
  let r = 0, dn = 0;
  for (let i = 0; i < d.count; i++) { r += d.reward[i]!; dn += d.done[i]!; }
  return { transitions: d.count, observations: d.obsCount, episodes: d.episodes, rewardMean: r / d.count, doneCount: dn, perDomain };
}
