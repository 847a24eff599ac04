// One process, two addons, alternating update by update on the same IQL image-encoder agent (32x32 or 64x64, batch
// 256, 1 thread): both arms see the same machine load within ~0.2 s, which a shared machine's load swings (4 to 14
// here) otherwise swamp. The two addons of this comparison give the same bits (bits.ts: the same weights after 3
// updates), so the agent's trajectory does not depend on which one ran an update.
//   npx tsx ab-inproc.ts ADDON_A ADDON_B [PAIRS] [SIZE]  -> medians of the main thread's and the process's CPU ms per update
import os from 'node:os';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { imageWorkload } from '../../bench/models.ts';
const [a, b] = [process.argv[2], process.argv[3]];
if (!a || !b) throw new Error('usage: ab-inproc.ts ADDON_A ADDON_B [PAIRS]');
const pairs = Number(process.argv[4] ?? 15);
const use = async (addon: string): Promise<void> => {
  const info = await initBackend({ gemmAddon: addon, gemmThreads: 1 });
  if (!info.gemm) throw new Error(`${addon}: ${info.gemmError}`);
  nativeGemm()?.setThreads(1);
};
const S = Number(process.argv[5] ?? 32);
const B = 256;
await use(a);
const { agent, batch } = imageWorkload(S, B);
for (const addon of [a, b, a, b]) {
  await use(addon);
  agent.update(batch); // warm-up: V8 tiers the JS and wasm up
}
const cpu = { [a]: [] as number[], [b]: [] as number[] };
const thread = { [a]: [] as number[], [b]: [] as number[] };
const load0 = os.loadavg();
for (let i = 0; i < pairs; i++)
  for (const addon of i % 2 ? [b, a] : [a, b]) {
    await use(addon);
    const g = nativeGemm();
    if (!g) throw new Error('no native kernels');
    const t0 = g.threadCpuMs();
    const c0 = process.cpuUsage();
    agent.update(batch);
    const c = process.cpuUsage(c0);
    thread[addon]?.push(g.threadCpuMs() - t0);
    cpu[addon]?.push((c.user + c.system) / 1000);
  }
const med = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const out = {
  pairs,
  loadBefore: load0,
  loadAfter: os.loadavg(),
  arms: [a, b].map((addon) => ({
    addon,
    threadCpuMedianMs: med(thread[addon] ?? []),
    processCpuMedianMs: med(cpu[addon] ?? []),
    threadCpuMs: thread[addon],
    processCpuMs: cpu[addon],
  })),
};
// B's share of A's time per pair (same position in the alternation), median: robust to slow drifts in load.
const ratios = (thread[a] ?? []).map((x, i) => (thread[b]?.[i] ?? NaN) / x);
console.log(JSON.stringify({ size: S, ...out, threadCpuRatioBtoA: { median: med(ratios), perPair: ratios } }));
