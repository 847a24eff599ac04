/** Shared inputs of the learning tests. */
import type { IqlBatch } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';

/** A random batch of IQL on cached features at the online shapes: 256 rows of 48-d features, 9-d proprio, 3-d actions. */
export function featureBatch(seed: number): IqlBatch {
  const B = 256;
  const F = 48;
  const rng = new Rng(seed);
  const f = (k: number, s = 1): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
  return {
    size: B,
    features: f(F),
    nextFeatures: f(F),
    proprio: f(9, 0.01),
    nextProprio: f(9, 0.01),
    action: f(3, 0.003),
    reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    done: new Float32Array(B),
  };
}
