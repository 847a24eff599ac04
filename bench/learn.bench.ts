/**
 * Learning-core throughput: updates per second at batch 256 for
 *   - DAIB reward-classifier training (64x64x3, 3-conv encoder),
 *   - offline IQL with a DAIB image encoder per network (policy, twin Q, V) at 32x32x3 and 64x64x3,
 *   - IQL on cached frozen-encoder features (the online case; 48-d features + 9-d proprio, 2x256 MLPs).
 * Prints the backend (and its fixes), wall time and CPU time per update (CPU time approximates the unloaded cost on a
 * shared machine). Short on purpose: a few updates after warm-up (V8 tiers wasm up first).
 *
 * Then the same shapes in PyTorch (bench/learn_torch.py, Debian's python3-torch) with 1 and 2 threads, side by side.
 *
 *   npx tsx bench/learn.bench.ts [--quick] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendLabel } from '../src/learn/backend.ts';
import { DaibClassifier, defaultDaibConfig } from '../src/learn/daib.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, iqlDaibConfig } from '../src/learn/iql.ts';
import { makePegDataset } from '../src/learn/synthetic.ts';
import { Rng } from '../src/util/rng.ts';
import { summarize, writeResults, type Summary } from './lib.ts';

const quick = process.argv.includes('--quick');
const B = 256;
const info = await initBackend();
console.log(`backend: ${backendLabel()}`);

interface Row {
  name: string;
  ms: Summary;
  /** CPU time (user + sys) per update: on a shared machine a better estimate of the unloaded cost (wasm is single-threaded). */
  cpuMs: Summary;
  updatesPerSec: number;
  updatesPerCpuSec: number;
}
const rows: Row[] = [];

function measure(name: string, warmup: number, iters: number, fn: () => void): void {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const ms = summarize(samples);
  const cpuMs = summarize(cpu);
  const row = { name, ms, cpuMs, updatesPerSec: 1000 / ms.median, updatesPerCpuSec: 1000 / cpuMs.median };
  rows.push(row);
  console.log(`${name.padEnd(30)} wall median ${ms.median.toFixed(1)} ms p99 ${ms.p99.toFixed(1)} ms -> ${row.updatesPerSec.toFixed(2)}/s | cpu median ${cpuMs.median.toFixed(1)} ms -> ${row.updatesPerCpuSec.toFixed(2)}/s per core (n=${ms.n})`);
}

// --- The conv kernels behind image training (batch 256, 3x3, stride 2, same), forward vs the two gradients.
const convRows: Array<{ layer: string; gflop: number; fwdMs: number; dFilterMs: number; dInputMs: number }> = [];
for (const [H, ci, co] of [[64, 3, 32], [32, 32, 32], [16, 32, 32]] as const) {
  const x = tf.randomNormal([B, H, H, ci]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
  const dy = tf.onesLike(tf.conv2d(x, w, 2, 'same'));
  const med = (f: () => void): number => {
    f();
    const t: number[] = [];
    for (let i = 0; i < (quick ? 2 : 4); i++) {
      const t0 = performance.now();
      f();
      t.push(performance.now() - t0);
    }
    return summarize(t).median;
  };
  const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC' };
  const row = {
    layer: `${H}x${H}x${ci}->${co}`, gflop: (2 * B * (H / 2) ** 2 * 9 * ci * co) / 1e9,
    fwdMs: med(() => tf.tidy(() => { tf.conv2d(x, w, 2, 'same').dataSync(); })),
    dFilterMs: med(() => tf.tidy(() => { (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, ci, co] }) as tf.Tensor).dataSync(); })),
    dInputMs: med(() => tf.tidy(() => { (tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [B, H, H, ci] }) as tf.Tensor).dataSync(); })),
  };
  convRows.push(row);
  console.log(`conv ${row.layer.padEnd(16)} ${row.gflop.toFixed(2)} GFLOP: fwd ${row.fwdMs.toFixed(1)} ms, dFilter ${row.dFilterMs.toFixed(1)} ms, dInput ${row.dInputMs.toFixed(1)} ms`);
  tf.dispose([x, w, dy]);
}

// --- DAIB classifier, 64x64x3
{
  const ds = makePegDataset({ domains: [...Array(8).keys()], perDomain: 64, size: 64, seed: 1 });
  const c = new DaibClassifier(defaultDaibConfig({ numDomains: 8, batchSize: B, seed: 1 }));
  measure('daib classifier 64x64', 2, quick ? 2 : 5, () => c.trainOnDataset(ds));
}

// --- IQL with image encoders
function imageBatch(rng: Rng, S: number, domains: number): IqlBatch {
  const px = B * S * S * 3;
  const img = (): Uint8Array => {
    const a = new Uint8Array(px);
    for (let i = 0; i < px; i++) a[i] = rng.int(256);
    return a;
  };
  const f = (k: number, s: number): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
  return {
    size: B, images: img(), nextImages: img(), proprio: f(9, 0.01), nextProprio: f(9, 0.01), action: f(3, 0.003),
    reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), done: new Float32Array(B),
    success: Uint8Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), domain: Int32Array.from({ length: B }, () => rng.int(domains)),
  };
}

const proprioScale = [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1];
for (const S of [32, 64]) {
  const agent = new IqlAgent({
    ...DEFAULT_IQL, mode: 'image', proprioDim: 9, proprioScale, shiftPad: S / 16, seed: 1,
    daib: iqlDaibConfig({ numDomains: 8, encoder: { inputShape: [S, S, 3], filters: [32, 32, 32], kernelSize: 3, strides: [2, 2, 2], padding: 'same', zIDim: 32, zSDim: 16 } }),
  });
  const batch = imageBatch(new Rng(S), S, 8);
  measure(`iql image encoders ${S}x${S}`, 2, quick ? 2 : S === 64 ? 3 : 5, () => agent.update(batch));
}

// --- IQL on cached features (online)
{
  const F = 48;
  const agent = new IqlAgent({ ...DEFAULT_IQL, mode: 'features', proprioDim: 9, proprioScale, featureDims: { pi: F, q: F, v: F }, seed: 1 });
  const rng = new Rng(3);
  const f = (k: number, s = 1): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
  const batch: IqlBatch = {
    size: B, features: f(F), nextFeatures: f(F), proprio: f(9, 0.01), nextProprio: f(9, 0.01), action: f(3, 0.003),
    reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), done: new Float32Array(B),
  };
  measure('iql cached features (48-d)', 10, quick ? 10 : 40, () => agent.update(batch));
}

// --- The yardstick: the same shapes in PyTorch (Debian's python3-torch, CPU), one thread (as wasm) and two.
interface TorchRun { threads: number; torch: string; rows: Array<{ name: string; medianMs: number; p99Ms: number; n: number }> }
const torchRuns: TorchRun[] = [];
if (!process.argv.includes('--no-torch')) {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'learn_torch.py');
  for (const threads of [1, 2]) {
    const r = spawnSync('/usr/bin/python3', [script, String(threads), quick ? '1' : '0'], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout?.trim().split('\n').at(-1) ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      console.log(`pytorch yardstick skipped (${(r.stderr ?? '').trim().split('\n').at(-1) ?? 'no output'}); install python3-torch and libopenblas0-pthread to compare`);
      break;
    }
    const run = JSON.parse(line) as TorchRun;
    torchRuns.push(run);
    for (const row of run.rows) {
      const ours = rows.find((x) => x.name === row.name);
      const ratio = ours ? ` (tfjs ${backendLabel().split(' ')[0]}: ${(ours.ms.median / row.medianMs).toFixed(1)}x its time)` : '';
      console.log(`pytorch ${run.torch} ${threads}T ${row.name.padEnd(28)} median ${row.medianMs.toFixed(1)} ms -> ${(1000 / row.medianMs).toFixed(2)}/s${ratio}`);
    }
  }
}

const file = writeResults('learn', {
  backend: info.name, backendFixes: info.fixes, backendLabel: backendLabel(), batch: B, convKernels: convRows,
  pytorch: torchRuns,
  rows: rows.map((r) => ({ name: r.name, updatesPerSec: r.updatesPerSec, medianMs: r.ms.median, p99Ms: r.ms.p99, cpuMedianMs: r.cpuMs.median, updatesPerCpuSec: r.updatesPerCpuSec, n: r.ms.n })),
});
console.log(`wrote ${file}`);
