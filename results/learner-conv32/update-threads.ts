// CPU per 32x32 IQL image-encoder update (batch 256, 1 thread), per thread of the process (/proc/self/task): the main
// thread runs tfjs and the native kernels; the others are V8's (garbage collection). Run: npx tsx update-threads.ts
import { readdirSync, readFileSync } from 'node:fs';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, iqlDaibConfig } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';
import { BENCH_PROPRIO_SCALE } from '../../bench/models.ts';
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const S = 32, B = 256;
const agent = new IqlAgent({ ...DEFAULT_IQL, mode: 'image', proprioDim: 9, proprioScale: BENCH_PROPRIO_SCALE, shiftPad: S / 16, seed: 1,
  daib: iqlDaibConfig({ numDomains: 8, encoder: { inputShape: [S, S, 3], filters: [32, 32, 32], kernelSize: 3, strides: [2, 2, 2], padding: 'same', zIDim: 32, zSDim: 16 } }) });
const rng = new Rng(S);
const img = (): Uint8Array => Uint8Array.from({ length: B * S * S * 3 }, () => rng.int(256));
const f = (k: number, s: number): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
const batch: IqlBatch = { size: B, images: img(), nextImages: img(), proprio: f(9, 0.01), nextProprio: f(9, 0.01), action: f(3, 0.003),
  reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), done: new Float32Array(B),
  success: Uint8Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), domain: Int32Array.from({ length: B }, () => rng.int(8)) };
const snap = (): Map<string, number> => { const m = new Map<string, number>(); for (const t of readdirSync('/proc/self/task')) { const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8'); const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')); const fl = st.slice(st.lastIndexOf(')') + 2).split(' '); m.set(`${t} ${name}`, (Number(fl[11]) + Number(fl[12])) * 10); } return m; };
for (let i = 0; i < 3; i++) agent.update(batch);
const a = snap(); const c0 = process.cpuUsage();
const N = 8; for (let i = 0; i < N; i++) agent.update(batch);
const c = process.cpuUsage(c0); const b = snap();
console.log(`process cpu ${((c.user + c.system) / 1000 / N).toFixed(1)} ms/update`);
for (const [k, v] of b) { const d = (v - (a.get(k) ?? 0)) / N; if (d > 0) console.log(`  ${k}: ${d.toFixed(1)} ms/update`); }
