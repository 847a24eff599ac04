// Per-life table and per-arm totals of a run.sh output directory: npx tsx summarize.ts OUTDIR [OUT.json]
//
// A missed tick is charged to "another real-time thread" when, in the perf record of the control CPU (LIFE.waits.json),
// a wait of the control thread in that CPU's run queue overlaps the tick's late stretch and most of that wait went to
// another process's real-time thread (kernel priority < 100), and so is the on-time tick right after such a wait (its
// skipped deadline); else to "its own collection" when the thread's collections in that stretch took 20 ms or more
// (LateTick.gc); else to "other".
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PyFloat, type PyNum, num, pyFixed, pyJson, pyRepr, pyRoundT } from './py-format.ts';

// The parts of bench/daemon-thread.bench.ts's result file and of run-queue.ts's output read here.
type Dist = { p99: number; max: number };
type LateTick = {
  startedAt: number;
  sincePrevStartMs: number;
  lateMs: number;
  skipped: number;
  gc?: { ms?: number } | null;
  thread?: { runQueueMs?: number; offCpuMs?: number } | null;
};
type Life = {
  readyMs: number;
  ticks: number;
  missed: number;
  missedControl: number;
  maxLatenessMs: number;
  maxLatenessAtMs: number;
  longCollections: { ms: number; atMs: number }[];
  first300Ticks?: { compute: Dist; lateness: Dist };
  afterThem?: { compute: Dist; lateness: Dist };
};
type Phase = {
  life?: Life | null;
  lateTicks?: { lateTicks: LateTick[]; monotonicOffsetMs: number } | null;
  loadavg: { start: number[]; end: number[] };
  warmup?: { ms: number } | null;
};
type Waits = { tid: number; waits: { at: number; ms: number; ran: Record<string, number> }[] };

// Python's truthiness of a JSON value: null, 0, '', [] and {} are false.
const truthy = (v: unknown): boolean =>
  v !== null && v !== undefined && v !== false && v !== 0 && v !== '' && (typeof v !== 'object' || Object.keys(v).length > 0);
const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`index ${i} out of range`);
  return x;
};
const dists = (d: { compute: Dist; lateness: Dist }) => ({
  computeP99: pyRoundT(d.compute.p99, 2),
  computeMax: pyRoundT(d.compute.max, 2),
  latenessP99: pyRoundT(d.lateness.p99, 2),
  latenessMax: pyRoundT(d.lateness.max, 1),
});

const outDir = process.argv[2];
if (outDir === undefined) throw new Error('usage: summarize.ts OUTDIR [OUT.json]');
const lives = [];
const files = readdirSync(outDir)
  .filter((f) => f.startsWith('life-') && f.endsWith('.json') && !f.endsWith('.waits.json'))
  .map((f) => join(outDir, f))
  .sort();
for (const f of files) {
  const tag = (f.split('/').at(-1) ?? '').replace(/\.json$/, '');
  const m = /^life-(.+)-(\d+)$/.exec(tag);
  if (!m?.[1] || !m[2]) throw new Error(`${f}: not life-ARM-N.json`);
  const [arm, n] = [m[1], m[2]];
  const d = JSON.parse(readFileSync(f, 'utf8')) as { figures: { phases: Phase[] } };
  const ph = at(d.figures.phases, 0);
  const life = ph.life;
  const late = ph.lateTicks;
  if (!truthy(life) || !truthy(late) || !life || !late) continue;
  const waits: { a: number; b: number; rt: boolean }[] = [];
  const wf = join(outDir, `${tag}.waits.json`);
  if (existsSync(wf)) {
    const w = JSON.parse(readFileSync(wf, 'utf8')) as Waits;
    for (const x of w.waits) {
      let rt = 0;
      for (const [k, v] of Object.entries(x.ran)) {
        const prio = Number.parseInt(k.slice(k.lastIndexOf(' prio ') + ' prio '.length), 10);
        if (prio < 100 && !(k.split('/')[1] ?? '').startsWith(String(w.tid))) rt += v;
      }
      waits.push({ a: x.at * 1000, b: x.at * 1000 + x.ms, rt: rt >= 0.5 * x.ms });
    }
  }
  const haveWaits = waits.length > 0;
  const off = late.monotonicOffsetMs;
  let missedRt = 0;
  let missedGc = 0;
  let missedOther = 0;
  const ticks: { lateMs: PyNum; gcMs: PyNum; runQueueMs: PyNum; offCpuMs: PyNum; foreignRealtime: boolean | null }[] = [];
  for (const t of late.lateTicks) {
    const end = t.startedAt + off;
    const start = end - t.sincePrevStartMs;
    const nMissed = Math.max(1, t.skipped + (t.lateMs > 50 ? 1 : 0));
    let foreign: boolean | null = haveWaits ? waits.some((w) => w.a < end && w.b > start && w.rt) : null;
    // The tick right after a long stall counts a skipped deadline though it starts on time: the stall's.
    const prev = ticks.at(-1);
    if (!foreign && t.lateMs < 5 && prev?.foreignRealtime && t.sincePrevStartMs < 300) foreign = true;
    const gcMs = t.gc?.ms ?? 0;
    if (foreign) missedRt += nMissed;
    else if (gcMs >= 20) missedGc += nMissed;
    else missedOther += nMissed;
    ticks.push({
      lateMs: pyRoundT(t.lateMs, 1),
      gcMs: pyRoundT(gcMs, 1),
      runQueueMs: pyRoundT(t.thread?.runQueueMs ?? -1, 1),
      offCpuMs: pyRoundT(t.thread?.offCpuMs ?? -1, 1),
      foreignRealtime: foreign,
    });
  }
  const afterReady = life.longCollections.filter((c) => c.atMs > life.readyMs);
  lives.push({
    life: tag,
    arm,
    n: Number(n),
    load: [at(ph.loadavg.start, 0), at(ph.loadavg.end, 0)] as [number, number],
    readyS: new PyFloat(num(pyRoundT(life.readyMs / 1000, 1))), // a division: a float in Python
    warmupS: truthy(ph.warmup) && ph.warmup ? new PyFloat(num(pyRoundT(ph.warmup.ms / 1000, 1))) : null,
    ticks: life.ticks,
    missed: life.missed,
    missedControl: life.missedControl,
    missedForeignRealtime: haveWaits ? missedRt : null,
    missedOwnCollection: missedGc,
    missedOther: haveWaits ? missedOther : null,
    maxLatenessMs: pyRoundT(life.maxLatenessMs, 1),
    maxLatenessAtS: new PyFloat(num(pyRoundT(life.maxLatenessAtMs / 1000, 1))),
    first300: life.first300Ticks !== undefined ? dists(life.first300Ticks) : null,
    after: life.afterThem !== undefined ? dists(life.afterThem) : null,
    collections10msAfterReady: afterReady.map((c) => pyRoundT(c.ms, 1)),
    collections10msBeforeReady: life.longCollections.length - afterReady.length,
    lateTicks: ticks,
    runQueueWaits10ms: waits.length,
    runQueueWaitsForeignRealtime: waits.filter((w) => w.rt).length,
  });
}

type Arm = {
  lives: number;
  ticks: number;
  missedControl: number;
  missedForeignRealtime: number;
  missedOwnCollection: number;
  missedOther: number;
  livesWithMissed: number;
  maxLatenessMs: PyNum[];
  collections10msAfterReady: PyNum[];
  first300ComputeMax: PyNum[];
  afterComputeMax: PyNum[];
  first300ComputeP99: PyNum[];
  afterComputeP99: PyNum[];
  readyS: PyNum[];
  warmupS: PyNum[];
  load: number[];
};
const arms = new Map<string, Arm>();
for (const l of lives) {
  let a = arms.get(l.arm);
  if (!a) {
    a = {
      lives: 0,
      ticks: 0,
      missedControl: 0,
      missedForeignRealtime: 0,
      missedOwnCollection: 0,
      missedOther: 0,
      livesWithMissed: 0,
      maxLatenessMs: [],
      collections10msAfterReady: [],
      first300ComputeMax: [],
      afterComputeMax: [],
      first300ComputeP99: [],
      afterComputeP99: [],
      readyS: [],
      warmupS: [],
      load: [],
    };
    arms.set(l.arm, a);
  }
  a.lives += 1;
  a.ticks += l.ticks;
  a.missedControl += l.missedControl;
  a.missedForeignRealtime += l.missedForeignRealtime ?? 0;
  a.missedOther += l.missedOther ?? 0;
  a.missedOwnCollection += l.missedOwnCollection;
  a.livesWithMissed += l.missedControl ? 1 : 0;
  a.maxLatenessMs.push(l.maxLatenessMs);
  a.collections10msAfterReady.push(...l.collections10msAfterReady);
  if (l.first300) {
    a.first300ComputeMax.push(l.first300.computeMax);
    a.first300ComputeP99.push(l.first300.computeP99);
  }
  if (l.after) {
    a.afterComputeMax.push(l.after.computeMax);
    a.afterComputeP99.push(l.after.computeP99);
  }
  a.readyS.push(l.readyS);
  a.load.push(...l.load);
  if (l.warmupS !== null) a.warmupS.push(l.warmupS);
}

const rng = (v: PyNum[]): string => (v.length ? `${pyFixed(Math.min(...v.map(num)), 1)}-${pyFixed(Math.max(...v.map(num)), 1)}` : '-');

for (const l of lives) {
  const [f, af] = [l.first300, l.after];
  console.log(
    `${l.life.padEnd(14)} load ${pyFixed(l.load[0], 0)}-${pyFixed(l.load[1], 0)} ready ${pyFixed(num(l.readyS), 1).padStart(5)} s warm-up ${(l.warmupS !== null ? pyRepr(l.warmupS) : '-').padStart(5)} s | missed ${l.missedControl} (foreign RT ${pyRepr(l.missedForeignRealtime)}, own GC ${l.missedOwnCollection}, other ${pyRepr(l.missedOther)}) ` +
      `max late ${pyFixed(num(l.maxLatenessMs), 1).padStart(6)} ms at ${pyFixed(num(l.maxLatenessAtS), 1).padStart(5)} s | first 300 compute p99/max ${f ? pyRepr(f.computeP99) : '-'}/${f ? pyRepr(f.computeMax) : '-'} ` +
      `after ${af ? pyRepr(af.computeP99) : '-'}/${af ? pyRepr(af.computeMax) : '-'} ms | GC>=10ms after ready ${pyRepr(l.collections10msAfterReady)} (before ${l.collections10msBeforeReady})`,
  );
}
console.log();
for (const [k, a] of arms) {
  const colls = a.collections10msAfterReady.map(num);
  console.log(
    `${k}: ${a.lives} lives, load ${rng(a.load)}, ready ${rng(a.readyS)} s, warm-up ${rng(a.warmupS)} s; missed control ${a.missedControl} of ${a.ticks} ticks in ${a.livesWithMissed} lives ` +
      `(another process's real-time thread ${a.missedForeignRealtime}, its own collection ${a.missedOwnCollection}, other ${a.missedOther}); max lateness ${rng(a.maxLatenessMs)} ms; ` +
      `compute first 300 ticks p99 ${rng(a.first300ComputeP99)} max ${rng(a.first300ComputeMax)} ms, after p99 ${rng(a.afterComputeP99)} max ${rng(a.afterComputeMax)} ms; ` +
      `collections >= 10 ms after ready: ${a.collections10msAfterReady.length} (max ${pyFixed(colls.length ? Math.max(...colls) : 0, 1)} ms)`,
  );
}
const out = process.argv[3];
if (out !== undefined) writeFileSync(out, pyJson({ lives, arms: Object.fromEntries(arms) }));
