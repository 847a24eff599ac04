// Steady-state CPU of one 32x32 IQL image-encoder update (batch 256, 1 thread): W warm-up updates (V8 has optimised the
// JS by then), then N timed; medians of process CPU (all threads: V8's compiler and GC threads too), main-thread CPU
// and wall, and the load. Run in a tree: npx tsx results/learner-conv32/s11/steady.ts [W] [N]  (one JSON line)
import os from 'node:os';
import { initBackend, nativeGemm } from '../../../src/learn/backend.ts';
import { imageWorkload } from '../../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
const g = nativeGemm();
if (!g) throw new Error('no native kernels');
g.setThreads(1);
const W = Number(process.argv[2] ?? 20);
const N = Number(process.argv[3] ?? 20);
const { agent, batch } = imageWorkload(32, 256);
for (let i = 0; i < W; i++) agent.update(batch);
const load0 = os.loadavg();
const cpu: number[] = [];
const main: number[] = [];
const wall: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = g.threadCpuMs();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  agent.update(batch);
  wall.push(performance.now() - w0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  main.push(g.threadCpuMs() - t0);
}
const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
console.log(JSON.stringify({ W, N, processCpuMs: med(cpu), mainCpuMs: med(main), wallMs: med(wall), load: [load0[0], os.loadavg()[0]] }));
