/**
 * Learning-core throughput: updates per second at batch 256 for
 *   - DAIB reward-classifier training (64x64x3, 3-conv encoder),
 *   - offline IQL with a DAIB image encoder per network (policy, twin Q, V) at 32x32x3 and 64x64x3,
 *   - IQL on cached frozen-encoder features (the online case; 48-d features + 9-d proprio, 2x256 MLPs).
 * Each workload runs on both engines side by side (iterations alternate, so both see the same machine load):
 * tfjs-wasm with its own matMul, and tfjs-wasm with the native OpenBLAS GEMM (src/learn/gemm.ts) when it loads; the
 * cached-features workloads (twin Q, and RLPD's 10-critic ensemble) also on the fused heads (src/learn/fused.ts), the
 * engine the online trainer uses.
 * With the addon's two-thread mode, also "openblas 2T" and "fused 2T": the same kernels split over both cores
 * (bit-identical results), compared with PyTorch on 2 threads.
 * Then the same shapes in PyTorch (bench/learn_torch.py, Debian's python3-torch) with 1 thread (as ours) and 2.
 * Also: the GEMM peak of this CPU (OpenBLAS sgemm at 1024^3, 1 thread; and wasm's XNNPack), and for every workload
 * its matMul+conv FLOPs per update (counted from the kernels that ran) and the share of that peak it reaches.
 * Wall and CPU time per update (CPU time approximates the unloaded cost on a shared machine); the load average is
 * printed and saved with the figures. Short on purpose: a few updates after warm-up (V8 tiers wasm up first).
 *
 * --warmup N adds N warm-up updates per workload to ours and PyTorch's: for the first few updates V8 still optimises
 * the JS on its background threads, CPU time that the process's figure counts (about 10 ms an update at 32x32).
 *
 *   npx tsx bench/learn.bench.ts [--quick] [--no-torch] [--torch-threads 1] [--only features,32x32] [--warmup 8]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendLabel, nativeGemm, setNativeGemm } from '../src/learn/backend.ts';
import { loadGemm } from '../src/learn/gemm.ts';
import { DaibClassifier, defaultDaibConfig } from '../src/learn/daib.ts';
import { setFusedHeads } from '../src/learn/iql.ts';
import { makePegDataset } from '../src/learn/synthetic.ts';
import { benchArgs, LEARN } from './commands.ts';
import { summarize, writeResults, type Summary } from './lib.ts';
import { featureWorkload, imageWorkload } from './models.ts';

const args = benchArgs(LEARN);
const { quick } = args;
const only = args.only ?? [];
const wanted = (name: string): boolean => !only.length || only.some((o) => name.includes(o));
const B = 256;
const info = await initBackend();
const nativeLabel = info.gemm ? backendLabel() : null;
interface Engine {
  engine: string;
  native: boolean;
  fused: boolean;
  /** The native kernels' threads (1 unless said; "2T" engines split over both cores, compared with PyTorch at 2). */
  threads?: number;
}
// The addon's two-thread mode (src/learn/gemm.ts) when this build has it.
const twoThreads = info.gemm !== undefined && nativeGemm()?.setThreads(2) === 2;
nativeGemm()?.setThreads(1);
const engines: Engine[] = [
  { engine: 'wasm', native: false, fused: false },
  ...(info.gemm ? [{ engine: 'wasm+openblas', native: true, fused: false }] : []),
  ...(twoThreads ? [{ engine: 'openblas 2T', native: true, fused: false, threads: 2 }] : []),
];
// IQL on cached features also runs on the fused heads (src/learn/fused.ts) when the native kernels load.
const featureEngines: Engine[] = [
  ...engines,
  ...(info.gemm ? [{ engine: 'fused', native: true, fused: true }] : []),
  ...(twoThreads ? [{ engine: 'fused 2T', native: true, fused: true, threads: 2 }] : []),
];
const useEngine = (e: Engine): void => {
  setNativeGemm(true);
  nativeGemm()?.setThreads(e.threads ?? 1);
  setNativeGemm(e.native);
  setFusedHeads(e.fused);
};
setNativeGemm(false);
const wasmLabel = backendLabel();
setNativeGemm(true);
console.log(
  `engines: ${wasmLabel}${nativeLabel ? `\n         ${nativeLabel}\n         fused = the native kernels + IQL heads fused (src/learn/fused.ts; cached-features workloads only)` : `\n         (native gemm unavailable: ${info.gemmError})`}`,
);
const loadAvg = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const load0 = os.loadavg();
console.log(`cpu: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; load average ${loadAvg()} (shared machine: compare ratios measured side by side)`);

// --- GEMM peak (1 thread, CPU time): OpenBLAS at 1024^3, and wasm's XNNPack matMul at the same size; and the MLP shapes.
const gemmPeak: { openblasGflops: number | null; wasmGflops: number; smallGflops: Array<{ shape: string; openblas: number | null; wasm: number }> } = {
  openblasGflops: null,
  wasmGflops: 0,
  smallGflops: [],
};
{
  // CPU time of the calling thread's process (both engines run single-threaded here), best of 3: robust to load.
  const bestOf = (n: number, f: () => void): number => {
    let best = Infinity;
    for (let i = 0; i < n; i++) {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      best = Math.min(best, (c.user + c.system) / 1000);
    }
    return best;
  };
  const g = loadGemm().gemm;
  const rateNative = (M: number, N: number, K: number, reps: number): number | null => {
    if (!g) return null;
    const a = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) / 13);
    const b = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) / 11);
    const c = new Float32Array(M * N);
    const ms =
      bestOf(3, () => {
        for (let r = 0; r < reps; r++) g.sgemm(false, false, 1, M, N, K, a, 0, b, 0, c, null, 0, 0, 0);
      }) / reps;
    return (2 * M * N * K) / (ms * 1e6);
  };
  const rateWasm = (M: number, N: number, K: number, reps: number): number => {
    setNativeGemm(false);
    const a = tf.randomUniform([M, K]);
    const b = tf.randomUniform([K, N]);
    for (let r = 0; r < 5; r++)
      tf.tidy(() => {
        tf.matMul(a, b).dataSync();
      }); // V8 tiers the wasm up
    const ms =
      bestOf(3, () => {
        for (let r = 0; r < reps; r++)
          tf.tidy(() => {
            tf.matMul(a, b).dataSync();
          });
      }) / reps; // (a tidy returning the array would walk it)
    tf.dispose([a, b]);
    setNativeGemm(true);
    return (2 * M * N * K) / (ms * 1e6);
  };
  gemmPeak.openblasGflops = rateNative(1024, 1024, 1024, 3);
  gemmPeak.wasmGflops = rateWasm(1024, 1024, 1024, 2);
  for (const [M, N, K] of [
    [256, 256, 57],
    [256, 256, 256],
    [256, 256, 60],
    [256, 1, 256],
  ] as const) {
    gemmPeak.smallGflops.push({ shape: `${M}x${K} . ${K}x${N}`, openblas: rateNative(M, N, K, 50), wasm: rateWasm(M, N, K, 50) });
  }
  console.log(
    `GEMM peak, 1 thread, 1024^3: OpenBLAS ${gemmPeak.openblasGflops?.toFixed(1) ?? 'n/a'} GFLOP/s, wasm XNNPack ${gemmPeak.wasmGflops.toFixed(1)} GFLOP/s`,
  );
  for (const s of gemmPeak.smallGflops)
    console.log(`  ${s.shape.padEnd(20)} OpenBLAS ${s.openblas?.toFixed(1) ?? 'n/a'} GFLOP/s, wasm ${s.wasm.toFixed(1)} GFLOP/s`);
}

/** matMul + conv FLOPs of one call of `fn`, counted from the kernels that ran (tf.profile). */
async function flopsOf(fn: () => void): Promise<number> {
  const p = await tf.profile(fn);
  let flops = 0;
  for (const k of p.kernels) {
    const ins = k.inputShapes;
    const out = k.outputShapes[0] ?? [];
    const size = (s: number[] | undefined): number => (s ?? []).reduce((a, d) => a * d, 1);
    if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') {
      const a = ins[0] ?? [];
      const M = out[out.length - 2] ?? 0;
      const a0 = a[a.length - 2] ?? 0;
      const a1 = a[a.length - 1] ?? 0;
      flops += 2 * size(out) * (a0 === M ? a1 : a0);
    } else if (k.name === 'Conv2D' || k.name === 'ConvBiasRelu') {
      const f = ins[1] ?? [];
      flops += 2 * size(out) * (f[0] ?? 0) * (f[1] ?? 0) * (f[2] ?? 0);
    } else if (k.name === 'Conv2DBackpropInput') {
      const f = ins[1] ?? [];
      flops += 2 * size(ins[0]) * (f[0] ?? 0) * (f[1] ?? 0) * (f[2] ?? 0);
    } else if (k.name === 'Conv2DBackpropFilter') {
      flops += 2 * size(ins[1]) * (out[0] ?? 0) * (out[1] ?? 0) * (out[2] ?? 0);
    }
  }
  return flops;
}

interface Row {
  name: string;
  engine: string;
  ms: Summary;
  /** CPU time (user + sys) per update: on a shared machine a better estimate of the unloaded cost (wasm is single-threaded). */
  cpuMs: Summary;
  updatesPerSec: number;
  updatesPerCpuSec: number;
  gflopPerUpdate: number;
}
const rows: Row[] = [];

/** Both engines, iterations alternating, so both see the same load. */
async function measure(name: string, warmup: number, iters: number, fn: () => void, list: Engine[] = engines): Promise<void> {
  if (!wanted(name)) return;
  for (const e of list) {
    useEngine(e);
    for (let i = 0; i < warmup + args.warmup; i++) fn();
  }
  // FLOPs counted from the tfjs kernels (the fused engine does the same GEMMs: its forward on s for V is shared).
  useEngine(list[0] as Engine);
  const gflop = (await flopsOf(fn)) / 1e9;
  const samples = list.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let i = 0; i < iters; i++) {
    for (const [j, e] of list.entries()) {
      useEngine(e);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      fn();
      samples[j]?.wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      samples[j]?.cpu.push((c.user + c.system) / 1000);
    }
  }
  useEngine({ engine: '', native: true, fused: true });
  for (const [j, e] of list.entries()) {
    const ms = summarize(samples[j]?.wall ?? []);
    const cpuMs = summarize(samples[j]?.cpu ?? []);
    const row = { name, engine: e.engine, ms, cpuMs, updatesPerSec: 1000 / ms.median, updatesPerCpuSec: 1000 / cpuMs.median, gflopPerUpdate: gflop };
    rows.push(row);
    console.log(
      `${name.padEnd(28)} ${e.engine.padEnd(13)} wall median ${ms.median.toFixed(1)} ms p99 ${ms.p99.toFixed(1)} ms -> ${row.updatesPerSec.toFixed(2)}/s | cpu median ${cpuMs.median.toFixed(1)} ms -> ${row.updatesPerCpuSec.toFixed(2)}/s per core (n=${ms.n}, ${gflop.toFixed(2)} GFLOP/update)`,
    );
  }
}

// --- The conv kernels behind image training (batch 256, 3x3, stride 2, same), forward vs the two gradients.
const convRows: Array<{ layer: string; gflop: number; fwdMs: number; dFilterMs: number; dInputMs: number }> = [];
for (const [H, ci, co] of (wanted('conv')
  ? [
      [64, 3, 32],
      [32, 32, 32],
      [16, 32, 32],
    ]
  : []) as Array<readonly [number, number, number]>) {
  const x = tf.randomNormal<tf.Rank.R4>([B, H, H, ci]);
  const w = tf.randomNormal<tf.Rank.R4>([3, 3, ci, co]);
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
    layer: `${H}x${H}x${ci}->${co}`,
    gflop: (2 * B * (H / 2) ** 2 * 9 * ci * co) / 1e9,
    fwdMs: med(() =>
      tf.tidy(() => {
        tf.conv2d(x, w, 2, 'same').dataSync();
      }),
    ),
    dFilterMs: med(() =>
      tf.tidy(() => {
        tf.engine()
          .runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, ci, co] })
          .dataSync();
      }),
    ),
    dInputMs: med(() =>
      tf.tidy(() => {
        tf.engine()
          .runKernel<tf.Tensor>('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [B, H, H, ci] })
          .dataSync();
      }),
    ),
  };
  convRows.push(row);
  console.log(
    `conv ${row.layer.padEnd(16)} ${row.gflop.toFixed(2)} GFLOP: fwd ${row.fwdMs.toFixed(1)} ms, dFilter ${row.dFilterMs.toFixed(1)} ms, dInput ${row.dInputMs.toFixed(1)} ms`,
  );
  tf.dispose([x, w, dy]);
}

// --- DAIB classifier, 64x64x3
if (wanted('daib classifier 64x64')) {
  const ds = makePegDataset({ domains: [...Array(8).keys()], perDomain: 64, size: 64, seed: 1 });
  const c = new DaibClassifier(defaultDaibConfig({ numDomains: 8, batchSize: B, seed: 1 }));
  await measure('daib classifier 64x64', 2, quick ? 2 : 5, () => c.trainOnDataset(ds));
}

// --- IQL with image encoders
for (const S of [32, 64]) {
  if (!wanted(`iql image encoders ${S}x${S}`)) continue;
  const { agent, batch } = imageWorkload(S, B);
  await measure(`iql image encoders ${S}x${S}`, 2, quick ? 2 : S === 64 ? 3 : 5, () => agent.update(batch));
}

// --- IQL on cached features (online): twin critics, and RLPD's 10-critic ensemble (target: min of a random 2)
for (const critics of [2, 10]) {
  const name = critics === 2 ? 'iql cached features (48-d)' : 'iql features, 10 critics';
  if (!wanted(name)) continue;
  const { agent, batch } = featureWorkload(critics, B);
  await measure(name, critics === 2 ? 10 : 3, quick ? (critics === 2 ? 10 : 4) : 40, () => agent.update(batch), featureEngines);
}

// --- The yardstick: the same shapes in PyTorch (Debian's python3-torch, CPU), one thread (as ours) and two.
interface TorchRow {
  name: string;
  medianMs: number;
  p99Ms: number;
  cpuMedianMs: number;
  n: number;
}
interface TorchRun {
  threads: number;
  torch: string;
  rows: TorchRow[];
}
const torchRuns: TorchRun[] = [];
const torchThreads = args.torchThreads;
if (args.torch) {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'learn_torch.py');
  for (const threads of torchThreads) {
    // torch.set_num_threads does not bound OpenBLAS's own pool (its CPU time exceeded its wall time at "1 thread"): cap both.
    const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
    const r = spawnSync('/usr/bin/python3', [script, String(threads), quick ? '1' : '0', only.join(','), String(args.warmup)], {
      encoding: 'utf8',
      timeout: 600_000,
      env,
    });
    const line = r.stdout?.trim().split('\n').at(-1) ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      console.log(
        `pytorch yardstick skipped (${(r.stderr ?? '').trim().split('\n').at(-1) ?? 'no output'}); install python3-torch (scripts/install-system-deps.sh --bench) to compare`,
      );
      break;
    }
    torchRuns.push(JSON.parse(line) as TorchRun);
  }
}

// --- Summary: per workload, both engines and PyTorch side by side; ratio = PyTorch time / ours (>= 1: faster than PyTorch).
const peak = gemmPeak.openblasGflops ?? gemmPeak.wasmGflops;
console.log(
  `\nsummary (batch ${B}; ratio = PyTorch 1-thread time / ours, wall and CPU; share = GFLOP/s reached / ${peak.toFixed(1)} GFLOP/s ${gemmPeak.openblasGflops ? 'OpenBLAS' : 'XNNPack'} 1-thread peak):`,
);
const summary: Array<Record<string, unknown>> = [];
for (const name of [...new Set(rows.map((r) => r.name))]) {
  const t1 = torchRuns.find((t) => t.threads === 1)?.rows.find((r) => r.name === name);
  const t2 = torchRuns.find((t) => t.threads === 2)?.rows.find((r) => r.name === name);
  for (const r of rows.filter((x) => x.name === name)) {
    // Two-thread engines: against PyTorch on two threads, and their share of two cores' peak by wall time.
    const two = r.engine.endsWith('2T');
    const t = two ? t2 : t1;
    const share = two ? r.gflopPerUpdate / (r.ms.median / 1000) / (2 * peak) : r.gflopPerUpdate / (r.cpuMs.median / 1000) / peak;
    const ratio = t ? t.medianMs / r.ms.median : null;
    const cpuRatio = t ? t.cpuMedianMs / r.cpuMs.median : null;
    summary.push({
      name,
      engine: r.engine,
      medianMs: r.ms.median,
      cpuMedianMs: r.cpuMs.median,
      updatesPerSec: r.updatesPerSec,
      ratioVsTorch: ratio,
      cpuRatioVsTorch: cpuRatio,
      vsTorchThreads: two ? 2 : 1,
      shareOfPeak: share,
    });
    console.log(
      `  ${name.padEnd(28)} ${r.engine.padEnd(13)} ${r.ms.median.toFixed(1).padStart(7)} ms (cpu ${r.cpuMs.median.toFixed(1)} ms) ${r.updatesPerSec.toFixed(1).padStart(6)}/s  ratio ${ratio?.toFixed(2) ?? 'n/a'}x (cpu ${cpuRatio?.toFixed(2) ?? 'n/a'}x)${two ? ' vs 2T' : ''}  ${(100 * share).toFixed(0)}% of ${two ? "2 cores' " : ''}peak`,
    );
  }
  if (t1)
    console.log(
      `  ${name.padEnd(28)} ${'pytorch 1T'.padEnd(13)} ${t1.medianMs.toFixed(1).padStart(7)} ms (cpu ${t1.cpuMedianMs.toFixed(1)} ms) ${(1000 / t1.medianMs).toFixed(1).padStart(6)}/s  ${((100 * ((rows.find((x) => x.name === name)?.gflopPerUpdate ?? 0) / (t1.cpuMedianMs / 1000))) / peak).toFixed(0)}% of peak`,
    );
  if (t2)
    console.log(
      `  ${name.padEnd(28)} ${'pytorch 2T'.padEnd(13)} ${t2.medianMs.toFixed(1).padStart(7)} ms (cpu ${t2.cpuMedianMs.toFixed(1)} ms) ${(1000 / t2.medianMs).toFixed(1).padStart(6)}/s  ${((100 * ((rows.find((x) => x.name === name)?.gflopPerUpdate ?? 0) / (t2.medianMs / 1000))) / (2 * peak)).toFixed(0)}% of 2 cores' peak`,
    );
}
console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${loadAvg()}`);

const file = writeResults('learn', {
  engines: featureEngines.map((e) => e.engine),
  wasmLabel,
  nativeLabel,
  gemmError: info.gemmError ?? null,
  batch: B,
  convKernels: convRows,
  gemmPeak,
  loadAverageBefore: load0,
  loadAverageAfter: os.loadavg(),
  cpus: os.cpus().length,
  pytorch: torchRuns,
  summary,
  rows: rows.map((r) => ({
    name: r.name,
    engine: r.engine,
    updatesPerSec: r.updatesPerSec,
    medianMs: r.ms.median,
    p99Ms: r.ms.p99,
    cpuMedianMs: r.cpuMs.median,
    updatesPerCpuSec: r.updatesPerCpuSec,
    gflopPerUpdate: r.gflopPerUpdate,
    n: r.ms.n,
  })),
});
console.log(`wrote ${file}`);
