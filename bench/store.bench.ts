/**
 * The log's figures: sustained transitions/s with 64x64 RGB frames through the async TransitionWriter (target
 * >= 1000/s), the caller-side cost of append (what the control tick pays), append-to-commit latency at 10 Hz (the
 * durability window), bytes per transition, the synchronous bulk path (prior-data collection), and the trainer's
 * read path (iterate with images decoded).
 * Run: npx tsx bench/store.bench.ts   (writes bench/results/store.json)
 * Frames are synthetic (gradients, a moving disc, per-pixel noise): rendered frames with flat shading compress better,
 * so bytes/transition here is on the pessimistic side.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, TransitionWriter, type TransitionInput } from '../src/store/index.ts';
import { makeTransition } from '../test/store/fixtures/data.ts';
import { benchArgs, STORE } from './commands.ts';
import { fmt, summarize, writeResults } from './lib.ts';

benchArgs(STORE);
const dir = mkdtempSync(join(tmpdir(), 'store-bench-'));
const file = join(dir, 'bench.db');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const immediate = () => new Promise((r) => setImmediate(r));

// A pool of distinct frames so generating them is not part of what is measured.
const POOL = 256;
const pool: TransitionInput[] = Array.from({ length: POOL }, (_, k) => makeTransition(1, k, k % 17));

const store = Store.open(file);
const sid = store.openSession({ robot: 'bench', backend: 'none', config: {}, calibration: {} });
let episode = 0;
function newEpisode(): number {
  episode = store.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'bench' });
  return episode;
}

const lagByKey = new Map<string, number>();
const lags: number[] = [];
const writer = await TransitionWriter.open(file, {
  maxPending: 4096,
  onCommit: (rows) => {
    const now = performance.now();
    for (const r of rows) {
      const k = `${r.episodeId}:${r.step}`;
      const t0 = lagByKey.get(k);
      if (t0 !== undefined) {
        lags.push(now - t0);
        lagByKey.delete(k);
      }
    }
  },
});

/** Appends n transitions as fast as the writer drains them; per-call append times (ms) are collected. */
async function burst(n: number, appendMs: number[] | null): Promise<{ seconds: number; dropped: number }> {
  const dropped0 = writer.stats().dropped;
  const t0 = performance.now();
  let step = 0;
  let ep = newEpisode();
  for (let i = 0; i < n; i++) {
    if (step === 1000) {
      ep = newEpisode();
      step = 0;
    }
    // Stay under the queue bound so nothing is dropped: yield to let the worker's acks in.
    while (writer.stats().pending >= 2048) await sleep(1);
    const src = pool[i % POOL]!;
    const t = { ...src, episodeId: ep, step: step++ };
    const a = performance.now();
    writer.append(t);
    if (appendMs) appendMs.push(performance.now() - a);
    if (i % 64 === 63) await immediate();
  }
  await writer.flush();
  return { seconds: (performance.now() - t0) / 1000, dropped: writer.stats().dropped - dropped0 };
}

console.log('warm-up (3000 transitions)...');
await burst(3000, null);

const N = 20000;
const burstAppend: number[] = [];
const r = await burst(N, burstAppend);
const throughput = N / r.seconds;
const bs = summarize(burstAppend);
console.log(
  `sustained through TransitionWriter: ${throughput.toFixed(0)} transitions/s (${N} in ${r.seconds.toFixed(2)} s, dropped ${r.dropped}), largest batch ${writer.stats().largestBatch}`,
);
console.log(`append() caller cost under full load: median ${fmt(bs.median, 4)}, p99 ${fmt(bs.p99, 4)}`);

// The control tick's reality: one append every 10 ms (here 5 ms, to keep the run short), cold caches between.
const paced: number[] = [];
{
  const ep = newEpisode();
  for (let k = 0; k < 400; k++) {
    const t = { ...pool[k % POOL]!, episodeId: ep, step: k };
    lagByKey.set(`${ep}:${k}`, performance.now());
    const a = performance.now();
    writer.append(t);
    paced.push(performance.now() - a);
    await sleep(5);
  }
  await writer.flush();
}
const ps = summarize(paced);
const ls = summarize(lags);
console.log(`append() caller cost at a paced 200 Hz: median ${fmt(ps.median, 4)}, p99 ${fmt(ps.p99, 4)}`);
console.log(`append-to-commit latency (durability window) at 200 Hz: median ${fmt(ls.median, 2)}, p99 ${fmt(ls.p99, 2)}, max ${fmt(ls.max, 2)}`);

// Synchronous bulk path (Store.appendTransitions, 100 per transaction).
const SYNC = 5000;
let syncSeconds: number;
{
  const ep = newEpisode();
  const t0 = performance.now();
  for (let b = 0; b < SYNC / 100; b++) {
    store.appendTransitions(Array.from({ length: 100 }, (_, j) => ({ ...pool[(b * 100 + j) % POOL]!, episodeId: ep, step: b * 100 + j })));
  }
  syncSeconds = (performance.now() - t0) / 1000;
}
console.log(`synchronous Store.appendTransitions (batches of 100): ${(SYNC / syncSeconds).toFixed(0)} transitions/s`);

await writer.close();
store.checkpoint('TRUNCATE');
const st = store.storage();
const fileBytes = statSync(file).size;
const raw = 64 * 64 * 3;
console.log(
  `bytes per transition: ${(fileBytes / st.transitions).toFixed(0)} in the file (${st.transitions} rows, ${(fileBytes / 2 ** 20).toFixed(1)} MiB), image ${(st.imageBytes / st.transitions).toFixed(0)} of ${raw} raw`,
);

// Trainer's read path: a read-only connection iterating with images decoded.
const reader = Store.openReadOnly(file);
let readRows = 0;
const tr0 = performance.now();
for (const t of reader.iterateTransitions({ domain: 'bench' })) if (t.image) readRows++;
const readSeconds = (performance.now() - tr0) / 1000;
const tq0 = performance.now();
const qc = reader.quickCheck();
const quickCheckMs = performance.now() - tq0;
reader.close();
console.log(
  `iterateTransitions with images decoded: ${(readRows / readSeconds).toFixed(0)} transitions/s; quick_check ${qc} in ${fmt(quickCheckMs, 0)} for ${(fileBytes / 2 ** 20).toFixed(1)} MiB`,
);
store.close();

const out = writeResults('store', {
  imageSize: '64x64 RGB (synthetic, noisy)',
  writerTransitionsPerSecond: Math.round(throughput),
  writerTarget: 1000,
  writerBurst: { transitions: N, seconds: r.seconds, dropped: r.dropped },
  appendCallerMsUnderLoad: bs,
  appendCallerMsPaced: ps,
  appendToCommitMsPaced: ls,
  syncAppendTransitionsPerSecond: Math.round(SYNC / syncSeconds),
  bytesPerTransitionFile: Math.round(fileBytes / st.transitions),
  imageBytesPerTransition: Math.round(st.imageBytes / st.transitions),
  rawImageBytes: raw,
  readDecodedTransitionsPerSecond: Math.round(readRows / readSeconds),
  quickCheckMs,
  fileMiB: fileBytes / 2 ** 20,
});
console.log(`wrote ${out}`);
rmSync(dir, { recursive: true, force: true });
