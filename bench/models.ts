/**
 * The daemon benchmarks' models: policy-shaped ONNX files of the daemon's size (64 px image + 9 proprio, 256 hidden,
 * residual bound 2 mm) with their cards, built by the test fixtures (tfjs on the cpu backend, set by the caller).
 */
import { join } from 'node:path';
import { saveOnnxModel } from '../src/learn/export.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, iqlDaibConfig } from '../src/learn/iql.ts';
import { Rng } from '../src/util/rng.ts';
import { buildPolicyLike, cardDraft } from '../test/policy/fixtures.ts';

/** `<dir>/<name ?? kind>.onnx`; `seed` and the card's `version` tell versions of the same model apart. */
export function saveBenchModel(dir: string, kind: 'policy' | 'reward', o: { name?: string; seed?: number; version?: number } = {}): string {
  const path = join(dir, `${o.name ?? kind}.onnx`);
  const head = kind === 'policy' ? 'action' : 'probability';
  const m = buildPolicyLike({ size: 64, proprioDim: 9, hidden: 256, head, bound: 0.002, seed: o.seed ?? kind.length });
  const card = cardDraft(kind, { size: 64, proprioDim: 9, bound: 0.002 });
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: [head], card: o.version === undefined ? card : { ...card, version: o.version } });
  m.dispose();
  return path;
}

/** Proprio scale of the learner benchmarks' IQL agents (the daemon's layout: position m, force N, unit extras). */
export const BENCH_PROPRIO_SCALE = [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1];

/**
 * The online learner's workload in the benchmarks: IQL on cached 48-d features + 9-d proprio (the trainer's shapes),
 * and one fixed synthetic batch, so learn.bench and update-profile.bench time the same update.
 */
export function featureWorkload(critics: number, batchSize = 256): { agent: IqlAgent; batch: IqlBatch } {
  const F = 48;
  const agent = new IqlAgent({
    ...DEFAULT_IQL,
    mode: 'features',
    proprioDim: 9,
    proprioScale: BENCH_PROPRIO_SCALE,
    featureDims: { pi: F, q: F, v: F },
    critics,
    targetCritics: 2,
    seed: 1,
  });
  const rng = new Rng(3);
  const f = (k: number, s = 1): Float32Array => Float32Array.from({ length: batchSize * k }, () => rng.normal(0, s));
  const batch: IqlBatch = {
    size: batchSize,
    features: f(F),
    nextFeatures: f(F),
    proprio: f(9, 0.01),
    nextProprio: f(9, 0.01),
    action: f(3, 0.003),
    reward: Float32Array.from({ length: batchSize }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    done: new Float32Array(batchSize),
  };
  return { agent, batch };
}

/**
 * Offline IQL with image encoders at S x S (three stride-2 3x3 convs of 32 filters, DAIB-shaped encoders, 8 domains)
 * and one fixed synthetic batch: learn.bench's workload, and the kernel studies' in results/learner-conv32/.
 */
export function imageWorkload(S: number, batchSize = 256): { agent: IqlAgent; batch: IqlBatch } {
  const agent = new IqlAgent({
    ...DEFAULT_IQL,
    mode: 'image',
    proprioDim: 9,
    proprioScale: BENCH_PROPRIO_SCALE,
    shiftPad: S / 16,
    seed: 1,
    daib: iqlDaibConfig({
      numDomains: 8,
      encoder: { inputShape: [S, S, 3], filters: [32, 32, 32], kernelSize: 3, strides: [2, 2, 2], padding: 'same', zIDim: 32, zSDim: 16 },
    }),
  });
  const rng = new Rng(S);
  const px = batchSize * S * S * 3;
  const img = (): Uint8Array => {
    const a = new Uint8Array(px);
    for (let i = 0; i < px; i++) a[i] = rng.int(256);
    return a;
  };
  const f = (k: number, s: number): Float32Array => Float32Array.from({ length: batchSize * k }, () => rng.normal(0, s));
  const batch: IqlBatch = {
    size: batchSize,
    images: img(),
    nextImages: img(),
    proprio: f(9, 0.01),
    nextProprio: f(9, 0.01),
    action: f(3, 0.003),
    reward: Float32Array.from({ length: batchSize }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    done: new Float32Array(batchSize),
    success: Uint8Array.from({ length: batchSize }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    domain: Int32Array.from({ length: batchSize }, () => rng.int(8)),
  };
  return { agent, batch };
}
