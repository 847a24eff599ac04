// A hash of every trainable weight of the 32x32 IQL image-encoder agent after 3 updates (batch 256, 1 thread): run in
// two checkouts to see whether a kernel change moved the learner's bits. Run: npx tsx bits.ts
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, iqlDaibConfig } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';
import { BENCH_PROPRIO_SCALE } from '../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const S = 32;
const B = 256;
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
const img = (): Uint8Array => Uint8Array.from({ length: B * S * S * 3 }, () => rng.int(256));
const f = (k: number, s: number): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
const batch: IqlBatch = {
  size: B,
  images: img(),
  nextImages: img(),
  proprio: f(9, 0.01),
  nextProprio: f(9, 0.01),
  action: f(3, 0.003),
  reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)),
  done: new Float32Array(B),
  success: Uint8Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)),
  domain: Int32Array.from({ length: B }, () => rng.int(8)),
};
const losses = [0, 1, 2].map(() => agent.update(batch));
const h = createHash('sha256');
const vars = tf.engine().state.registeredVariables;
for (const name of Object.keys(vars).sort()) h.update(name).update(Buffer.from((vars[name] as tf.Variable).dataSync() as Float32Array).toString('hex'));
console.log(`${Object.keys(vars).length} variables, sha256 ${h.digest('hex').slice(0, 16)}; last losses ${JSON.stringify(losses[2])}`);
