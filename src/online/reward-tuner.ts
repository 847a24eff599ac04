/**
 * Online fine-tuning of the reward classifier on operator labels (issue 13), beside the policy trainer (child.ts runs
 * both in the trainer process). When `minNewLabels` labels have arrived since the last version, the head of the reward
 * model the daemon started with is fine-tuned (src/learn/reward-tune.ts) on frames from the labelled episodes and
 * exported as a new reward version (ONNX + card, registered in the store); the daemon validates it and swaps it in
 * (src/swap/reward.ts, app/learning.ts), as it does policies.
 *
 * Frames (the final observation of an episode is scored but not logged, so its last logged frame stands in for it):
 * - labelled failure: the last `lastFrames` logged frames, target 0 (the connector was never seated: data/labels.ts);
 * - labelled success: the last logged frame, target 1, only when the tip there is already within `seatedToleranceM`
 *   of the calibrated x* height (physically down): a frame one step before the end may still be a few mm up, which
 *   is exactly where the classifier errs, and must not be taught as seated;
 * - anchors: up to `anchorFrames` of the last frames of unlabelled practice episodes, each with the classifier's own
 *   logged probability on it as a soft target (weight `anchorWeight` in total), so the head does not drift where no
 *   one labelled; a version waits until labelled frames of both outcomes exist.
 * Every version starts from the ORIGINAL model's weights and uses every label so far (the newest per episode).
 *
 * Each frame is fed as the daemon scores it: the logged row as its observation (data/dataset.ts observationOf) through
 * the card's input builder (policy/inputs.ts ModelInputs), so a reward taking proprio inputs (the depth reward's depth
 * steps from the logged depth image) is tuned on exactly what it judges. A frame the card's inputs cannot be built
 * from (no image, or no depth image for a depth reward) is left out. Which rewards can be tuned: `labelTuneRefusal`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { observationOf } from '../data/dataset.ts';
import { heightAboveGoalM } from '../daemon/scoring.ts';
import { initBackend } from '../learn/backend.ts';
import type { DaibConfig } from '../learn/daib.ts';
import { saveOnnxModel } from '../learn/export.ts';
import { fineTuneHead, rewardClassifierFromOnnx } from '../learn/reward-tune.ts';
import { cardPathFor, readCard, sha256Hex, type ModelCard } from '../policy/card.ts';
import { InputSpecError, inputSpecOf, ModelInputs, type ModelInputSpec } from '../policy/inputs.ts';
import { Store } from '../store/index.ts';
import type { TransitionRecord } from '../store/types.ts';
import { Rng } from '../util/rng.ts';

export interface RewardTunerConfig {
  /** The daemon's log. */
  db: string;
  /** The reward model to fine-tune (ONNX with its card; the card's hyperparameters.daib describes the classifier). */
  rewardPath: string;
  /** Exports go to `<workDir>/reward-models/`. */
  workDir: string;
  /** New labels needed before the next version. */
  minNewLabels: number;
  steps: number;
  lr: number;
  batchSize: number;
  lastFrames: number;
  seatedToleranceM: number;
  anchorFrames: number;
  /** Total weight of the anchors relative to the labelled frames (1 = as much as all labelled frames together). */
  anchorWeight: number;
  exportName: string;
  seed: number;
}

export const DEFAULT_REWARD_TUNE: Omit<RewardTunerConfig, 'db' | 'rewardPath' | 'workDir'> = {
  minNewLabels: 4,
  steps: 60,
  lr: 1e-3,
  batchSize: 128,
  lastFrames: 3,
  seatedToleranceM: 0.002,
  anchorFrames: 256,
  anchorWeight: 2,
  exportName: 'reward-labels',
  seed: 0,
};

/**
 * How a label-tuned version is validated before it replaces the reward (src/swap/reward.ts): one that changes the
 * judged outcome of more than 10 % of recently logged observations is refused. Measured (label experiment, 500
 * episodes on the held-out connectors): tuning on 2-10 labels with 150 steps and anchors at half weight, versions
 * accepted with up to 17/32 outcomes changed, gave roundkey 3 -> 9 false positives and megablock 4 -> 27 false
 * negatives.
 */
export const LABEL_TUNED_REWARD_VALIDATION = { maxFlipFraction: 0.1, onFlag: 'reject' } as const;

/**
 * The fine-tune's weight of each frame. The labelled frames weigh 1 on average, and each labelled outcome half of
 * them whatever its frame count: a failure gives `lastFrames` frames and a success one, and near-seated failure frames
 * outnumbering seated ones taught the head to call seated frames unseated (results/online-s21/, section 5). The
 * anchors weigh `anchorWeight` times the labelled frames in total.
 */
export function frameWeights(frames: ReadonlyArray<{ anchor: boolean; target: number }>, anchorWeight: number): Float32Array {
  const labelled = frames.filter((f) => !f.anchor);
  const pos = labelled.filter((f) => f.target === 1).length;
  const anchors = frames.length - labelled.length;
  return Float32Array.from(frames, (f) =>
    f.anchor ? (anchorWeight * labelled.length) / Math.max(1, anchors) : labelled.length / (2 * (f.target === 1 ? pos : labelled.length - pos)),
  );
}

/**
 * Why operator labels cannot fine-tune the reward of this card (null: they can): the tuner rebuilds a DAIB-family
 * classifier from the card's `hyperparameters.daib` and feeds it what the card's inputs name (an image, and a proprio
 * vector such as the depth reward's depth steps), so the card must describe such a classifier and inputs the one input
 * pipeline can build from a logged observation, of the sizes the classifier takes. The daemon (app/learning.ts) and
 * the tuner ask this one rule.
 */
export function labelTuneRefusal(card: ModelCard, source: string): string | null {
  const daib = (card.hyperparameters as { daib?: Partial<DaibConfig> } | undefined)?.daib;
  if (!daib?.encoder?.inputShape) return `${source}: field 'hyperparameters.daib' is missing: only a DAIB-family classifier can be fine-tuned`;
  let spec: ModelInputSpec;
  try {
    spec = inputSpecOf(card, source);
  } catch (e) {
    return (e as Error).message;
  }
  const [h, w] = daib.encoder.inputShape;
  if (!spec.image || spec.image.width !== w || spec.image.height !== h)
    return `${source}: the card's image input (${spec.image ? `${spec.image.width}x${spec.image.height}` : 'none'}) is not the classifier's ${w}x${h}`;
  const pd = daib.proprioDim ?? 0;
  if ((spec.proprio?.layout.length ?? 0) !== pd)
    return `${source}: the card's proprio input has ${spec.proprio?.layout.length ?? 0} values, the classifier ${pd}`;
  return null;
}

export interface RewardExportInfo {
  path: string;
  version: string;
  modelId: number;
  labels: number;
  frames: { positive: number; negative: number; anchors: number };
  lossBefore: number;
  lossAfter: number;
}

/** One frame as the model is fed (copies of the input builder's buffers). */
interface Fed {
  image: Float32Array;
  proprio: Float32Array | undefined;
}

export class RewardTuner {
  private lastLabelId = 0;
  private readonly labels = new Map<number, boolean>();
  private newLabels = 0;
  private versions = 0;
  private reader: Store | null = null;
  private writer: Store | null = null;

  constructor(readonly cfg: RewardTunerConfig) {
    if (!Number.isInteger(cfg.minNewLabels) || cfg.minNewLabels < 1) throw new Error(`reward tuner: field 'minNewLabels' must be an integer >= 1`);
  }

  async init(): Promise<void> {
    await initBackend();
    // Refuses a missing or bad card, or one it cannot tune, now rather than at the first label.
    const why = labelTuneRefusal(readCard(cardPathFor(this.cfg.rewardPath)), this.cfg.rewardPath);
    if (why) throw new Error(`reward tuner: ${why}`);
    this.reader = Store.openReadOnly(this.cfg.db);
    this.writer = Store.open(this.cfg.db, { integrityCheck: 'header' });
  }

  /** Reads labels added since the last call; returns how many arrived (a version is `due` once enough have). */
  poll(): number {
    const r = this.reader;
    if (!r) throw new Error('reward tuner: init() first');
    const fresh = r.labelsAfter(this.lastLabelId);
    for (const l of fresh) {
      this.labels.set(l.episodeId, l.success);
      this.lastLabelId = l.id;
      this.newLabels++;
    }
    return fresh.length;
  }

  get due(): boolean {
    return this.newLabels >= this.cfg.minNewLabels;
  }

  /** Why the last tune() made no version (null after one that did). */
  lastSkip: string | null = null;

  /** Fine-tunes the original model's head on every label so far and exports a new version; null (lastSkip says why)
   *  while the labels do not allow one yet. */
  tune(): RewardExportInfo | null {
    const r = this.reader,
      w = this.writer;
    if (!r || !w) throw new Error('reward tuner: init() first');
    const c = this.cfg;
    const bytes = readFileSync(c.rewardPath);
    const card = readCard(cardPathFor(c.rewardPath));
    const why = labelTuneRefusal(card, c.rewardPath);
    if (why) throw new Error(`reward tuner: ${why}`);
    const daib = (card.hyperparameters as { daib: DaibConfig }).daib;
    const inputs = new ModelInputs(inputSpecOf(card, c.rewardPath), c.rewardPath);
    const clf = rewardClassifierFromOnnx(bytes, daib, c.rewardPath);
    try {
      const frames: Array<{ input: Fed; target: number; anchor: boolean }> = [];
      let unfed = 0;
      /** The row as the daemon's scoring feeds the model (copies), or null when its inputs cannot be built. */
      const feed = (row: TransitionRecord): Fed | null => {
        if (!row.image) return null;
        try {
          const x = inputs.build(observationOf(row));
          return { image: Float32Array.from(x.image ?? []), proprio: x.proprio && Float32Array.from(x.proprio) };
        } catch (e) {
          if (!(e instanceof InputSpecError)) throw e;
          unfed++;
          return null;
        }
      };
      for (const [ep, success] of this.labels) {
        const rows = (r.getEpisode(ep, { transitions: true, images: true })?.transitions ?? []).filter((t) => t.image !== null);
        if (rows.length === 0) continue;
        if (!success) {
          for (const row of rows.slice(-c.lastFrames)) {
            const input = feed(row);
            if (input) frames.push({ input, target: 0, anchor: false });
          }
        } else {
          const last = rows[rows.length - 1]!;
          const input = heightAboveGoalM(last.eePos, last.goal) <= c.seatedToleranceM ? feed(last) : null;
          if (input) frames.push({ input, target: 1, anchor: false });
        }
      }
      const labelled = frames.length;
      // One outcome alone would only teach the head to say it everywhere (measured: negatives alone turned megablock's
      // seated frames into false negatives): wait for labelled frames of both.
      const pos = frames.filter((f) => f.target === 1).length;
      if (pos === 0 || pos === labelled) {
        this.lastSkip = `labelled frames of one outcome only (${pos} seated, ${labelled - pos} not${unfed ? `, ${unfed} without the inputs the reward takes` : ''}): waiting for labels of the other`;
        return null;
      }
      // Anchors: the last frames of unlabelled practice episodes (where the outcome is decided), each with the
      // classifier's logged probability on it (the previous row's reward) as a soft target.
      const rng = new Rng(c.seed + this.versions);
      const unlabelled = r.listEpisodes({ kind: 'practice', limit: 100_000 }).filter((e) => e.endedAt !== null && !this.labels.has(e.id));
      for (let k = 0; k < unlabelled.length * 2 && frames.length - labelled < c.anchorFrames; k++) {
        const e = unlabelled[rng.int(unlabelled.length)]!;
        const rows = r.getEpisode(e.id, { transitions: true, images: true })?.transitions ?? [];
        const j = rows.length - 1 - rng.int(Math.min(c.lastFrames, rows.length));
        const row = rows[j],
          prev = rows[j - 1];
        if (!row || !prev || prev.step !== row.step - 1 || prev.rewardProb == null) continue;
        const input = feed(row);
        if (input) frames.push({ input, target: prev.rewardProb, anchor: true });
      }
      const anchors = frames.length - labelled;
      const px = frames[0]!.input.image.length;
      const pd = daib.proprioDim ?? 0;
      const images = new Float32Array(frames.length * px);
      const proprio = pd > 0 ? new Float32Array(frames.length * pd) : undefined;
      frames.forEach((f, i) => {
        images.set(f.input.image, i * px);
        if (proprio && f.input.proprio) proprio.set(f.input.proprio, i * pd);
      });
      const targets = Float32Array.from(frames, (f) => f.target);
      const weights = frameWeights(frames, c.anchorWeight);
      const res = fineTuneHead(clf, { images, ...(proprio ? { proprio } : {}) }, frames.length, targets, weights, {
        steps: c.steps,
        lr: c.lr,
        batchSize: c.batchSize,
        seed: c.seed + this.versions,
      });
      this.versions++;
      const version = card.version * 1000 + this.versions;
      const dir = join(c.workDir, 'reward-models');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${c.exportName}-${String(version).padStart(7, '0')}.onnx`);
      const positive = frames.filter((f) => !f.anchor && f.target === 1).length;
      const out = saveOnnxModel(clf.inferenceModel(), path, {
        inputRoles: pd > 0 ? ['image', 'proprio'] : ['image'],
        outputRoles: ['probability'],
        card: {
          kind: 'reward',
          name: c.exportName,
          version,
          created: new Date().toISOString(),
          description: `Reward classifier ${card.name}@${card.version} with its head fine-tuned on ${this.labels.size} operator-labelled episodes (encoder frozen).`,
          preprocessing: card.preprocessing,
          training: { ...card.training, episodes: this.labels.size, transitions: frames.length, database: null, updates: res.steps, seed: c.seed },
          hyperparameters: { daib: clf.config, base: `${card.name}@${card.version}`, basePath: c.rewardPath, tune: { ...c } },
          backend: clf.backend,
          metrics: {
            labelledEpisodes: this.labels.size,
            positiveFrames: positive,
            negativeFrames: labelled - positive,
            anchorFrames: anchors,
            lossBefore: res.lossBefore,
            lossAfter: res.lossAfter,
          },
        },
      });
      const v = `${c.exportName}@${version}`;
      const modelId = w.findModel('reward', v)?.id ?? w.registerModel({ kind: 'reward', version: v, path, card: out.card, sha256: sha256Hex(out.bytes) });
      this.newLabels = 0;
      this.lastSkip = null;
      return {
        path,
        version: v,
        modelId,
        labels: this.labels.size,
        frames: { positive, negative: labelled - positive, anchors },
        lossBefore: res.lossBefore,
        lossAfter: res.lossAfter,
      };
    } finally {
      clf.dispose();
    }
  }

  close(): void {
    this.reader?.close();
    this.writer?.close();
  }
}
