// A hash of every trainable weight of the 32x32 IQL image-encoder agent after 3 updates (batch 256, 1 thread): run in
// two checkouts to see whether a kernel change moved the learner's bits. Run: npx tsx bits.ts
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { imageWorkload } from '../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const S = 32;
const B = 256;
const { agent, batch } = imageWorkload(S, B);
const losses = [0, 1, 2].map(() => agent.update(batch));
const h = createHash('sha256');
const vars = tf.engine().state.registeredVariables;
for (const name of Object.keys(vars).sort()) h.update(name).update(Buffer.from((vars[name] as tf.Variable).dataSync() as Float32Array).toString('hex'));
console.log(`${Object.keys(vars).length} variables, sha256 ${h.digest('hex').slice(0, 16)}; last losses ${JSON.stringify(losses[2])}`);
