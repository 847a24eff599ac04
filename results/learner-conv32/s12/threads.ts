// CPU per 32x32 update (batch 256, 1 thread) of the whole process, its main thread and V8's other threads (from
// /proc/self/task/*/stat), after W warm-up updates, over T timed ones:
//   node [V8 FLAGS] --import tsx results/learner-conv32/s12/threads.ts W T
import { readdirSync, readFileSync } from 'node:fs';
import { initBackend, nativeGemm } from '../../../src/learn/backend.ts';
import { imageWorkload } from '../../../bench/models.ts';
const [W, T] = [Number(process.argv[2] ?? 2), Number(process.argv[3] ?? 15)];
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const { agent, batch } = imageWorkload(32, 256);
const tick = 1000 / 100; // ms per clock tick (USER_HZ 100)
const threads = (): Map<string, number> => {
  const m = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    m.set(t, (Number(f[11]) + Number(f[12])) * tick);
  }
  return m;
};
for (let i = 0; i < W; i++) agent.update(batch);
const t0 = threads();
const c0 = process.cpuUsage();
for (let i = 0; i < T; i++) agent.update(batch);
const c = process.cpuUsage(c0);
const t1 = threads();
const main = String(process.pid);
let other = 0;
for (const [k, v] of t1) if (k !== main) other += v - (t0.get(k) ?? 0);
const mainMs = (t1.get(main) ?? 0) - (t0.get(main) ?? 0);
console.log(
  JSON.stringify({ flags: process.execArgv.filter((a) => a.startsWith('--') && a !== '--import' && a !== 'tsx'), warmup: W, timed: T, processMs: (c.user + c.system) / 1000 / T, mainMs: mainMs / T, otherThreadsMs: other / T }),
);
