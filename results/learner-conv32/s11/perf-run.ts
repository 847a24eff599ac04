// The run profiled in perf-*.txt (npx tsx results/learner-conv32/s11/perf-run.ts): 15 warm-up updates, then 40 timed; CPU and wall per update.
import { initBackend, nativeGemm } from '../../../src/learn/backend.ts';
import { imageWorkload } from '../../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const { agent, batch } = imageWorkload(32, 256);
for (let i = 0; i < 15; i++) agent.update(batch);
console.log('--- timed');
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < 40; i++) agent.update(batch);
const c = process.cpuUsage(c0);
console.log(`cpu ${((c.user + c.system) / 40000).toFixed(1)} wall ${((performance.now() - t0) / 40).toFixed(1)}`);
