// CPU of each of 30 consecutive 32x32 updates from the first (process / main thread / wall ms), as V8 warms up; with
// "alt" a plain-wasm update runs before each (as learn.bench.ts alternates engines). npx tsx results/learner-conv32/s11/settle.ts [alt]
import { initBackend, nativeGemm, setNativeGemm } from '../../../src/learn/backend.ts';
import { imageWorkload } from '../../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const { agent, batch } = imageWorkload(32, 256);
const alt = process.argv[2] === 'alt';
const out: string[] = [];
for (let i = 0; i < 30; i++) {
  if (alt) { setNativeGemm(false); agent.update(batch); setNativeGemm(true); }
  const g = nativeGemm()!;
  const t0 = g.threadCpuMs(); const c0 = process.cpuUsage(); const w0 = performance.now();
  agent.update(batch);
  const c = process.cpuUsage(c0);
  out.push(`${i}:${((c.user + c.system) / 1000).toFixed(0)}/${(g.threadCpuMs() - t0).toFixed(0)}/${(performance.now() - w0).toFixed(0)}`);
}
console.log(out.join(' '));
