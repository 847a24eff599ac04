/**
 * Where one IQL update on cached features goes (the online case: 48-d features + 9-d proprio, 2x256 heads with
 * LayerNorm, batch 256, fused heads on the native kernels, one BLAS thread), in CPU time: every native call of the
 * update timed and counted (sgemm by shape, with its GFLOP/s), the rest (JS glue, allocation) by difference, and the
 * trainer's per-update policy average. The GEMM peak is sgemm 1024^3 on the same thread; the update's share of it is
 * (its sgemm FLOPs / peak) / its CPU time. Timing each call costs a little itself: the plain pass comes first.
 * Then one and two threads side by side (the addon's helper thread), with what the helper took and cost.
 *   npx tsx bench/update-profile.bench.ts [--critics 2] [--updates 100]
 */
import os from 'node:os';
import { initBackend, nativeGemm } from '../src/learn/backend.ts';
import { buildMlp, netVariables } from '../src/learn/nets.ts';
import { polyakArrays, variableValues } from '../src/learn/optim.ts';

import { benchArgs, UPDATE_PROFILE } from './commands.ts';
import { writeResults } from './lib.ts';
import { featureWorkload } from './models.ts';

const { critics, updates: N } = benchArgs(UPDATE_PROFILE);
await initBackend();
const g = nativeGemm();
if (!g) throw new Error('the native GEMM did not load (bash native/build.sh): the fused heads need it');
const cpu = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

// Per-call CPU time of the kernels the fused heads call (wrapped in place: FusedMlp looks them up at call time).
const KERNELS = ['sgemm', 'adam', 'lerp', 'layerNorm', 'layerNormGrad', 'sumRows', 'relu', 'reluGrad'] as const;
const spent = new Map<string, { ms: number; calls: number; flop: number }>();
let timing = false;
let flop = 0;
const add = (key: string, ms: number, f: number): void => {
  const s = spent.get(key) ?? { ms: 0, calls: 0, flop: 0 };
  spent.set(key, { ms: s.ms + ms, calls: s.calls + 1, flop: s.flop + f });
};
for (const k of KERNELS) {
  const f = g[k] as (...a: unknown[]) => unknown;
  (g as unknown as Record<string, unknown>)[k] = (...a: unknown[]): unknown => {
    if (!timing) return f(...a);
    const c0 = cpu();
    const r = f(...a);
    const ms = cpu() - c0;
    if (k === 'sgemm') {
      const [tA, tB, batch, M, Nn, K] = a as [boolean, boolean, number, number, number, number];
      const fl = 2 * batch * M * Nn * K;
      flop += fl;
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
timing = true;
c0 = cpu();
for (let i = 0; i < N; i++) agent.update(batch);
const timedMs = (cpu() - c0) / N;
timing = false;

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
const gflop = flop / N / 1e9;
const nativeMs = KERNELS.reduce((s, k) => s + (spent.get(k)?.ms ?? 0), 0) / N;
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
  `timed pass ${timedMs.toFixed(2)} ms: native ${nativeMs.toFixed(2)} ms, the rest (JS glue, allocation; includes the timers) ${(timedMs - nativeMs).toFixed(2)} ms`,
);
for (const [k, s] of [...spent].sort((a, b) => b[1].ms - a[1].ms)) {
  const rate = s.flop ? `  ${(s.flop / s.ms / 1e6).toFixed(1)} GFLOP/s` : '';
  console.log(`  ${k.padEnd(26)} ${(s.ms / N).toFixed(3)} ms  ${(s.calls / N).toFixed(0)} calls${rate}`);
}
// Two threads (the addon's helper, src/learn/gemm.ts), side by side with one: blocks of 10 updates alternate, so both
// see the same load. On a loaded machine wall time is the scheduler's; the CPU figures say what the helper took
// (its work), what it cost (its CPU in all, spinning included), and the caller's own work per update (its CPU less
// its waits for the helper), which is what an update's wall time comes to when the helper has a core of its own.
let twoThreads: Record<string, number> | null = null;
if (g.setThreads(2) === 2) {
  const acc = { 1: { wall: 0, cpu: 0, n: 0 }, 2: { wall: 0, cpu: 0, n: 0 } };
  let s2 = [0, 0, 0, 0, 0];
  for (let b = 0; b < Math.max(2, Math.round(N / 10)); b++)
    for (const t of b % 2 ? ([2, 1] as const) : ([1, 2] as const)) {
      g.setThreads(t);
      const a = g.threadStats();
      const c1 = cpu();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) agent.update(batch);
      acc[t].wall += performance.now() - t0;
      acc[t].cpu += cpu() - c1;
      acc[t].n += 10;
      if (t === 2) s2 = g.threadStats().map((x, k) => (s2[k] as number) + x - (a[k] as number));
    }
  g.setThreads(1);
  const n2 = acc[2].n;
  const [, , helperWork, helperCpu, callerWait] = s2 as [number, number, number, number, number];
  const callerCpu = (acc[2].cpu - helperCpu) / n2;
  twoThreads = {
    oneThreadWallMs: acc[1].wall / acc[1].n,
    oneThreadCpuMs: acc[1].cpu / acc[1].n,
    twoThreadsWallMs: acc[2].wall / n2,
    twoThreadsCpuMs: acc[2].cpu / n2,
    wallRatio: acc[1].wall / acc[1].n / (acc[2].wall / n2),
    helperWorkMs: helperWork / n2,
    helperCpuMs: helperCpu / n2,
    callerCpuMs: callerCpu,
    callerWaitMs: callerWait / n2,
    callerWorkMs: callerCpu - callerWait / n2,
    splitJobsPerUpdate: (s2[0] as number) / n2,
    helperShareOfParts: (s2[1] as number) / Math.max(1, 2 * (s2[0] as number)),
  };
  const t2 = twoThreads;
  const f = (k: string): string => (t2[k] as number).toFixed(2);
  console.log(
    `two threads, side by side (${acc[1].n} + ${n2} updates): wall ${f('oneThreadWallMs')} -> ${f('twoThreadsWallMs')} ms (x${f('wallRatio')}); ` +
      `CPU ${f('oneThreadCpuMs')} -> ${f('twoThreadsCpuMs')} ms: the helper worked ${f('helperWorkMs')} ms (${(100 * (t2['helperShareOfParts'] as number)).toFixed(0)} % of the split parts) ` +
      `and used ${f('helperCpuMs')} ms with its spinning; the caller's own work ${f('callerWorkMs')} ms (waited ${f('callerWaitMs')} ms) ` +
      `-> ${(1000 / (t2['callerWorkMs'] as number)).toFixed(0)}/s when the helper has a core`,
  );
}

console.log(
  `wrote ${writeResults('update-profile', {
    twoThreads,
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
    kernels: Object.fromEntries(
      [...spent].map(([k, s]) => [k, { msPerUpdate: s.ms / N, callsPerUpdate: s.calls / N, gflops: s.flop ? s.flop / s.ms / 1e6 : null }]),
    ),
  })}`,
);
