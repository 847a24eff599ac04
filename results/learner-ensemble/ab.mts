// Old and new trees in one process, alternating blocks of 10 updates (the same load for both): CPU per update (process
// and caller thread), the two lanes' work (threadStats) and the estimate with a core each; then every loss and weight
// of the two trees compared bit for bit (same seed, same batch, same number of updates).
//   OLD=data/runs/old CRITICS=10 PRECISION=bf16 THREADS=2 BLOCKS=20 npx tsx results/learner-ensemble/ab.mts
import os from 'node:os';
import { createHash } from 'node:crypto';
const trees: Record<string, string> = { old: process.env.OLD ?? `${process.cwd()}/data/runs/old`, new: process.env.NEW ?? process.cwd() };
const critics = Number(process.env.CRITICS ?? 2);
const threads = Number(process.env.THREADS ?? 2);
const blocks = Number(process.env.BLOCKS ?? 20);
const precision = (process.env.PRECISION ?? 'fp32') as 'fp32' | 'bf16';
type W = { agent: any; batch: any; g: any; setP: (p: string) => unknown; nets: any };
const W: Record<string, W> = {};
for (const [k, dir] of Object.entries(trees)) {
  const be = await import(dir + '/src/learn/backend.ts');
  await be.initBackend({ gemmThreads: threads });
  const { featureWorkload } = await import(dir + '/bench/models.ts');
  const nets = await import(dir + '/src/learn/nets.ts');
  const g = be.nativeGemm();
  if (be.setGemmPrecision(precision) !== precision) throw new Error(`${k}: no ${precision}`);
  const w = featureWorkload(critics, 256);
  W[k] = { ...w, g, setP: be.setGemmPrecision, nets };
  console.log(k, dir, 'threads', g?.threads, 'parallel', g?.parallel, w.agent.backend.slice(0, 90));
}
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const losses: Record<string, number[]> = { old: [], new: [] };
const run = (k: string) => { const s = W[k]!.agent.update(W[k]!.batch); losses[k]!.push(s.vLoss, s.qLoss, s.piLoss); };
for (const k of Object.keys(W)) for (let i = 0; i < 20; i++) run(k);
const z = () => ({ p: 0, t: 0, wall: 0, n: 0, st: new Array(10).fill(0) as number[] });
const acc: Record<string, ReturnType<typeof z>> = { old: z(), new: z() };
for (let b = 0; b < blocks; b++) {
  for (const k of b % 2 ? ['new', 'old'] : ['old', 'new']) {
    const w = W[k]!;
    const s0 = w.g.threadStats();
    const p0 = cpu(), t0 = w.g.threadCpuMs(), w0 = performance.now();
    for (let i = 0; i < 10; i++) run(k);
    const a = acc[k]!;
    a.p += cpu() - p0; a.t += w.g.threadCpuMs() - t0; a.wall += performance.now() - w0; a.n += 10;
    a.st = w.g.threadStats().map((x: number, i: number) => a.st[i]! + x - s0[i]);
  }
}
console.log(`critics ${critics}, ${precision}, threads ${threads}, ${blocks} blocks of 10 each, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const out: Record<string, Record<string, number>> = {};
for (const [k, a] of Object.entries(acc)) {
  const [, , partsMs, , partWait, , , helperQueuedMs, syncWait, callerRanQueued] = a.st as number[];
  const helperWork = (partsMs! + helperQueuedMs!) / a.n;
  const callerWork = (a.t - partWait! - syncWait!) / a.n;
  const core = 1000 / Math.max(callerWork - callerRanQueued! / a.n, helperWork + callerRanQueued! / a.n);
  out[k] = { processMs: a.p / a.n, callerMs: a.t / a.n, callerWorkMs: callerWork, helperWorkMs: helperWork, waitMs: (partWait! + syncWait!) / a.n, wallMs: a.wall / a.n, coreEach: core };
  console.log(`${k}: process CPU ${(a.p / a.n).toFixed(2)} ms/update (${(1000 * a.n / a.p).toFixed(0)}/s per core), caller ${(a.t / a.n).toFixed(2)} (own work ${callerWork.toFixed(2)}, waiting ${((partWait! + syncWait!) / a.n).toFixed(2)}), helper work ${helperWork.toFixed(2)}, caller ran helper's ${(callerRanQueued! / a.n).toFixed(2)}; wall ${(a.wall / a.n).toFixed(2)} ms -> ${core.toFixed(0)}/s with a core each`);
}
console.log(`new/old process CPU ${(out.new!.processMs! / out.old!.processMs!).toFixed(3)}, caller ${(out.new!.callerMs! / out.old!.callerMs!).toFixed(3)}, core-each ${(out.new!.coreEach! / out.old!.coreEach!).toFixed(3)}`);
// Bits: losses of every update and every weight after them.
const digest = (k: string) => {
  const a = W[k]!.agent;
  const h = createHash('sha256');
  h.update(Buffer.from(Float64Array.from(losses[k]!).buffer));
  for (const v of [...W[k]!.nets.netVariables(a.pi), a.logStd, ...W[k]!.nets.netVariables(a.v), ...a.qs.flatMap(W[k]!.nets.netVariables), ...a.qTargets.flatMap(W[k]!.nets.netVariables)])
    h.update(Buffer.from((v.dataSync() as Float32Array).slice().buffer));
  return h.digest('hex').slice(0, 16);
};
const d = { old: digest('old'), new: digest('new') };
console.log(`digest after ${losses.old!.length / 3} updates: old ${d.old}, new ${d.new}: ${d.old === d.new ? 'bit-identical' : 'DIFFERENT'}`);
process.exit(0);
