/**
 * Where one IQL update on cached features goes (the online case: 48-d features + 9-d proprio, 2x256 heads with
 * LayerNorm, batch 256, fused heads on the native kernels, one BLAS thread), in CPU time: every native call of the
 * update timed and counted (sgemm by shape, with its GFLOP/s), the rest (JS glue, allocation) by difference, and the
 * trainer's per-update policy average. The GEMM peak is sgemm 1024^3 on the same thread; the update's share of it is
 * (its sgemm FLOPs / peak) / its CPU time. Timing each call costs a little itself: the plain pass comes first.
 * The same breakdown again with two threads splitting the kernels, in the caller's own thread CPU time (what the
 * caller still does itself). Then three modes side by side: one thread, two threads splitting kernels, and two threads
 * with the update's heads on two lanes (pi and the even critics on the helper thread, src/learn/iql.ts), with what
 * the helper took and cost. --precisions fp32,bf16: the breakdown in the first, and each mode in each precision side by
 * side (bf16: the GEMMs' inputs rounded to bfloat16 through oneDNN, learning.gemmPrecision).
 *   npx tsx bench/update-profile.bench.ts [--critics 2] [--updates 100] [--precisions fp32,bf16]
 */
import os from 'node:os';
import { backendLabel, initBackend, nativeGemm, setGemmPrecision } from '../src/learn/backend.ts';
import { buildMlp, netVariables } from '../src/learn/nets.ts';
import { polyakArrays, variableValues } from '../src/learn/optim.ts';

import { benchArgs, UPDATE_PROFILE } from './commands.ts';
import { writeResults } from './lib.ts';
import type { ThreadStats } from '../src/learn/gemm.ts';
import { featureWorkload } from './models.ts';

const { critics, updates: N, precisions } = benchArgs(UPDATE_PROFILE);
await initBackend();
const g = nativeGemm();
if (!g) throw new Error('the native GEMM did not load (bash native/build.sh): the fused heads need it');
// The breakdown's first pass is on one thread (initBackend's default is two where the process may use two CPUs: a
// split GEMM's caller CPU would then be half of it).
g.setThreads(1);
for (const p of precisions) if (setGemmPrecision(p) !== p) throw new Error(`GEMM precision ${p} unavailable: ${backendLabel()}`);
setGemmPrecision(precisions[0] ?? 'fp32');
const engine = backendLabel();
console.log(`engine: ${engine}`);
const cpu = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

// Per-call CPU time of the kernels the fused heads call (wrapped in place: FusedMlp looks them up at call time).
const KERNELS = [
  'sgemm',
  'adam',
  'adamPolyak',
  'lerp',
  'layerNorm',
  'layerNormGrad',
  'layerNormRelu',
  'reluLayerNormGrad',
  'reluLayerNormGradEx',
  'sumRows',
  'relu',
  'reluGrad',
] as const;
const spent = new Map<string, { ms: number; calls: number; flop: number }>();
let timing = false;
const add = (key: string, ms: number, f: number): void => {
  const s = spent.get(key) ?? { ms: 0, calls: 0, flop: 0 };
  spent.set(key, { ms: s.ms + ms, calls: s.calls + 1, flop: s.flop + f });
};
// The caller's thread CPU (with one thread, or kernels split over two, every kernel runs at once on either lane).
const tcpu = (): number => g.threadCpuMs();
for (const lane of new Set([g, g.helper]))
  for (const k of KERNELS) {
    const f = lane[k] as (...a: unknown[]) => unknown;
    (lane as unknown as Record<string, unknown>)[k] = (...a: unknown[]): unknown => {
      if (!timing) return f(...a);
      const c0 = tcpu();
      const r = f(...a);
      const ms = tcpu() - c0;
      if (k === 'sgemm') {
        const [tA, tB, batch, M, Nn, K] = a as [boolean, boolean, number, number, number, number];
        const fl = 2 * batch * M * Nn * K;
        add(`sgemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${Nn}x${K}`, ms, fl);
      }
      add(k, ms, 0);
      return r;
    };
  }

const B = 256;
const { agent, batch } = featureWorkload(critics, B);
const avg = variableValues(netVariables(buildMlp('profile_avg', agent.pi.config, 9)));
for (let i = 0; i < 20; i++) agent.update(batch);

let c0 = cpu();
for (let i = 0; i < N; i++) agent.update(batch);
const updateMs = (cpu() - c0) / N;
c0 = cpu();
for (let i = 0; i < N; i++) polyakArrays(avg, agent.policyWeights(), 0.002);
const averageMs = (cpu() - c0) / N;
g.parallel = false; // the lanes would queue: per-kernel times need every kernel run at once
timing = true;
c0 = tcpu();
for (let i = 0; i < N; i++) agent.update(batch);
const timedMs = (tcpu() - c0) / N;
timing = false;
const spentOne = new Map(spent);
spent.clear();
// The same with two threads splitting the kernels: the caller's own share of each (where its time goes).
let timedSplitMs = NaN;
if (g.setThreads(2) === 2) {
  timing = true;
  c0 = tcpu();
  for (let i = 0; i < N; i++) agent.update(batch);
  timedSplitMs = (tcpu() - c0) / N;
  timing = false;
  g.setThreads(1);
}
const spentSplit = new Map(spent);
g.parallel = true;

const M = 1024;
const A1 = new Float32Array(M * M).fill(0.5);
const B1 = new Float32Array(M * M).fill(0.25);
const C1 = new Float32Array(M * M);
let best = Infinity;
for (let r = 0; r < 7; r++) {
  const t0 = cpu();
  g.sgemm(false, false, 1, M, M, M, A1, 0, B1, 0, C1, null, 0, 0, 1);
  best = Math.min(best, cpu() - t0);
}
const peak = (2 * M ** 3) / best / 1e6;
const gflop = [...spentOne].filter(([k]) => k.startsWith('sgemm ')).reduce((s2, [, x]) => s2 + x.flop, 0) / N / 1e9;
const nativeMs = KERNELS.reduce((s2, k) => s2 + (spentOne.get(k)?.ms ?? 0), 0) / N;
const nativeSplitMs = KERNELS.reduce((s2, k) => s2 + (spentSplit.get(k)?.ms ?? 0), 0) / N;
console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}; ${critics} critics, batch ${B}, ${N} updates`,
);
console.log(
  `update ${updateMs.toFixed(2)} ms CPU (${(1000 / updateMs).toFixed(0)}/s per core); ${gflop.toFixed(3)} GFLOP of sgemm; GEMM peak ${peak.toFixed(1)} GFLOP/s -> ` +
    `GEMM-bound ${((gflop / peak) * 1000).toFixed(2)} ms (${(peak / gflop).toFixed(0)}/s); share of peak ${((100 * (gflop / peak) * 1000) / updateMs).toFixed(0)} %`,
);
console.log(`trainer's policy average per update ${averageMs.toFixed(3)} ms`);
console.log(
  `timed pass (caller's thread CPU), one thread -> two threads splitting kernels: ${timedMs.toFixed(2)} -> ${timedSplitMs.toFixed(2)} ms; ` +
    `native ${nativeMs.toFixed(2)} -> ${nativeSplitMs.toFixed(2)} ms, the rest (JS glue, allocation; includes the timers) ${(timedMs - nativeMs).toFixed(2)} -> ${(timedSplitMs - nativeSplitMs).toFixed(2)} ms`,
);
for (const [k, s2] of [...spentOne].sort((a, b) => b[1].ms - a[1].ms)) {
  const rate = s2.flop ? `  ${(s2.flop / s2.ms / 1e6).toFixed(1)} GFLOP/s` : '';
  const split = spentSplit.get(k);
  console.log(`  ${k.padEnd(26)} ${(s2.ms / N).toFixed(3)} -> ${split ? (split.ms / N).toFixed(3) : '?'} ms  ${(s2.calls / N).toFixed(0)} calls${rate}`);
}
// Three modes side by side, blocks of 10 updates in rotating order so that all see the same load: one thread; two
// threads splitting kernels; two threads with the heads on two lanes (and the split kernels where the helper is
// free). On a loaded machine wall time is the scheduler's; the CPU figures say what the helper took (its work), what
// it cost (its CPU in all, spinning included), and the caller's own work (its CPU less its waits for the helper).
// With a core each, an update takes about max(caller's work, helper's work), counting queued kernels the caller ran
// (when the helper was not scheduled) as the helper's: the updates/s estimated for a quiet machine (an upper bound:
// the lanes also wait for each other at the two sync points).
// Each mode in each precision of --precisions (named 'lanes bf16' etc. when more than one).
const threadModes = ['one', 'split', 'lanes'] as const;
type Mode = string;
const modeList: Mode[] = precisions.flatMap((p) => threadModes.map((m) => (precisions.length > 1 ? `${m} ${p}` : m)));
let modes: Record<Mode, Record<string, number>> | null = null;
if (g.setThreads(2) === 2) {
  const acc = Object.fromEntries(modeList.map((m) => [m, { wall: 0, cpu: 0, caller: 0, n: 0, st: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] as number[] }])) as Record<
    Mode,
    { wall: number; cpu: number; caller: number; n: number; st: number[] }
  >;
  // Rotations of the list, so that every mode runs in every position.
  const orders: Mode[][] = modeList.map((_, r) => [...modeList.slice(r), ...modeList.slice(0, r)]);
  for (let b = 0; b < Math.max(modeList.length, Math.round(N / 10)); b++)
    for (const m of orders[b % orders.length] as Mode[]) {
      const [tm, p] = m.split(' ');
      g.setThreads(tm === 'one' ? 1 : 2);
      g.parallel = tm === 'lanes';
      setGemmPrecision(p === 'bf16' || p === 'fp32' ? p : (precisions[0] ?? 'fp32'));
      const a = g.threadStats();
      const c1 = cpu();
      const k1 = tcpu();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) agent.update(batch);
      const r = acc[m] as { wall: number; cpu: number; caller: number; n: number; st: number[] };
      r.wall += performance.now() - t0;
      r.cpu += cpu() - c1;
      r.caller += tcpu() - k1;
      r.n += 10;
      r.st = g.threadStats().map((x, k) => (r.st[k] as number) + x - (a[k] as number));
    }
  g.setThreads(1);
  g.parallel = true;
  setGemmPrecision(precisions[0] ?? 'fp32');
  modes = Object.fromEntries(
    modeList.map((m) => {
      const r = acc[m] as { wall: number; cpu: number; caller: number; n: number; st: number[] };
      const [, parts, partsMs, , partWait, queued, helperRan, helperQueuedMs, syncWait, callerRanQueued] = r.st as ThreadStats;
      const helperWork = (partsMs + helperQueuedMs) / r.n;
      const callerWork = (r.caller - partWait - syncWait) / r.n;
      return [
        m,
        {
          wallMs: r.wall / r.n,
          updatesPerSecond: (1000 * r.n) / r.wall,
          cpuMs: r.cpu / r.n,
          callerCpuMs: r.caller / r.n,
          callerWaitMs: (partWait + syncWait) / r.n,
          callerWorkMs: callerWork,
          helperWorkMs: helperWork,
          helperOtherCpuMs: r.cpu / r.n - r.caller / r.n - helperWork,
          helperParts: parts / r.n,
          queuedPerUpdate: queued / r.n,
          helperRanQueuedShare: queued ? helperRan / queued : 0,
          callerRanQueuedMs: callerRanQueued / r.n,
          // Each lane's own work: what the caller ran of the helper's queue (the helper was not scheduled) moves back.
          quietUpdatesPerSecond: 1000 / Math.max(callerWork - callerRanQueued / r.n, helperWork + callerRanQueued / r.n),
        },
      ];
    }),
  );
  const md = modes;
  const base = md[modeList[0] as Mode] as Record<string, number>;
  for (const m of modeList) {
    const x = md[m] as Record<string, number>;
    const n = (acc[m] as { n: number }).n;
    const f = (k: string, d = 2): string => (x[k] as number).toFixed(d);
    console.log(
      `${m.padEnd(10)} (${n} updates): wall ${f('wallMs')} ms (${f('updatesPerSecond', 0)}/s, x${((base.wallMs as number) / (x.wallMs as number)).toFixed(2)}); ` +
        `CPU ${f('cpuMs')} ms: caller ${f('callerCpuMs')} (own work ${f('callerWorkMs')}, waiting ${f('callerWaitMs')}), helper work ${f('helperWorkMs')}, ` +
        `helper spin/other ${f('helperOtherCpuMs')}; ${f('queuedPerUpdate', 0)} kernels queued, ${(100 * (x.helperRanQueuedShare as number)).toFixed(0)} % run by the helper (the caller ran ${f('callerRanQueuedMs')} ms of them) ` +
        `-> ${f('quietUpdatesPerSecond', 0)}/s with a core each`,
    );
  }
}
const twoThreads = modes;

console.log(
  `wrote ${writeResults('update-profile', {
    twoThreads,
    engine,
    precisions,
    loadAverage: os.loadavg(),
    critics,
    batch: B,
    updates: N,
    updateCpuMs: updateMs,
    policyAverageCpuMs: averageMs,
    sgemmGflopPerUpdate: gflop,
    gemmPeakGflops: peak,
    shareOfPeak: ((gflop / peak) * 1000) / updateMs,
    timedPassCpuMs: timedMs,
    nativeCpuMs: nativeMs,
    timedPassSplitCallerCpuMs: timedSplitMs,
    nativeSplitCallerCpuMs: nativeSplitMs,
    kernels: Object.fromEntries(
      [...spentOne].map(([k, s2]) => [
        k,
        {
          msPerUpdate: s2.ms / N,
          splitCallerMsPerUpdate: (spentSplit.get(k)?.ms ?? NaN) / N,
          callsPerUpdate: s2.calls / N,
          gflops: s2.flop ? s2.flop / s2.ms / 1e6 : null,
        },
      ]),
    ),
  })}`,
);
