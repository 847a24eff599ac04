// Who held each control thread's CPU while it waited for it, and what the holder was doing; and what each missed tick
// waited behind. Reads run.sh's output: per pair PAIR.perf.txt.gz (perf script of every CPU: switches, wake-ups, and
// stack samples at 199 Hz with JS frames named), PAIR.pids, PAIR-a.json and PAIR-b.json (the two daemons' bench results).
// usage: npx tsx classify.ts OUTDIR [OUT.json]
//
// A control thread is the bench process's thread seen at kernel priority 89 (SCHED_FIFO 10). A wait is the stretch
// from its wake-up (or its preemption while runnable) to its next switch onto a CPU; waits of 10 ms or more are kept,
// with the time each other task ran on that CPU meanwhile and the holder's sampled stacks, each put in one class:
// the simulated cell's reset or retract (moveToStart, reset, retract frames), a model load, a control tick, a
// collection, or other. A missed tick (the bench's late ticks) is charged to the wait that overlaps its late stretch
// and whose main holder is (a) another daemon's control thread (of the group started together), (b) another real-time thread, (c) a normal thread; else
// to its own collection (>= 20 ms), else "other" (summarize.ts in ../startup-lives does the same for one daemon).
import { createReadStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';

type LateTick = { startedAt: number; sincePrevStartMs: number; lateMs: number; skipped: number; gc?: { ms?: number } | null };
type Phase = {
  ticks: number;
  controlTicks: number;
  missed: number;
  missedControl: number;
  life?: { ticks: number; missed: number; missedControl: number; readyMs: number; maxLatenessMs: number } | null;
  lateTicks?: { lateTicks: LateTick[]; monotonicOffsetMs: number } | null;
  loadavg: { start: number[]; end: number[] };
  cpus?: { notes: string[] };
  jitterMs?: { p99: number; max: number };
};
type Wait = { cpu: number; a: number; b: number; holders: Map<number, number>; stacks: Map<number, Map<string, number>>; examples: Map<number, string[]> };

const MIN_WAIT_MS = 10;
const classOf = (frames: string[]): string => {
  const s = frames.join(' | ');
  if (/moveToStart|SimCell\.reset|[ ~*^]reset file|[ ~*^]retract file/.test(s)) return 'sim reset/retract';
  if (/loadPolicy|loadReward|InferenceSession|PolicyModel|RewardModel|readFileSync|applySwap|setPolicy|setReward/.test(s)) return 'model load/swap';
  if (/controlTick|[ ~*^]tick file|[ ~*^]command file|physicsStep|mj_step|[ ~*^]step file/.test(s)) return 'control tick';
  if (/Heap::|Scavenge|MarkCompact|ScavengerCollector|GCTracer|v8::internal::GC/.test(s)) return 'collection';
  if (/warmUp/.test(s)) return 'warm-up';
  if (/^finish_task_switch/.test(frames[0] ?? '')) return 'being switched in';
  return 'other';
};

async function pair(dir: string, tag: string): Promise<Record<string, unknown>> {
  const pids = readFileSync(join(dir, `${tag}.pids`), 'utf8').trim().split(/\s+/).map(Number);
  const pidOf = new Map<number, number>(); // tid -> pid
  const control = new Map<number, number>(); // bench pid -> control tid
  const prioOf = new Map<number, number>(); // tid -> last kernel priority seen
  const running = new Map<number, { tid: number; since: number }>(); // cpu -> task
  const runnable = new Map<number, number>(); // control tid -> runnable since (s)
  const lastCpu = new Map<number, number>();
  const open = new Map<number, Wait>(); // control tid -> its current wait
  const waits = new Map<number, Wait[]>();
  const otherSamples: Map<string, number> = new Map();
  let sample: { cpu: number; tid: number; t: number; frames: string[] } | null = null;
  const isControl = (tid: number): boolean => [...control.values()].includes(tid);
  const finishSample = (): void => {
    if (!sample) return;
    const s = sample;
    sample = null;
    for (const w of open.values()) {
      if (w.cpu !== s.cpu || s.t < w.a) continue;
      const c = classOf(s.frames);
      const m = w.stacks.get(s.tid) ?? new Map<string, number>();
      m.set(c, (m.get(c) ?? 0) + 1);
      w.stacks.set(s.tid, m);
      const ex = w.examples.get(s.tid) ?? [];
      if (ex.length < 2) ex.push(s.frames.filter((f) => f !== '[unknown]').slice(0, 12).join(' < '));
      w.examples.set(s.tid, ex);
      if (c === 'other' && isControl(s.tid)) {
        const k = s.frames.slice(0, 4).join(' < ');
        otherSamples.set(k, (otherSamples.get(k) ?? 0) + 1);
      }
    }
  };
  const head = /^\s*(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s?(.*)$/;
  const sw = /prev_comm=.*? prev_pid=(\d+) prev_prio=(\d+) prev_state=(\S+) ==> next_comm=.*? next_pid=(\d+) next_prio=(\d+)/;
  const wk = /comm=.*? pid=(\d+) prio=(\d+)/;
  const input = createInterface({ input: createReadStream(join(dir, `${tag}.perf.txt.gz`)).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of input) {
    const m = head.exec(line);
    if (!m) {
      if (sample && line.trim() !== '') sample.frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ''));
      else finishSample();
      continue;
    }
    finishSample();
    const [pid, tid, cpu, t] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
    const ev = m[5] ?? '';
    pidOf.set(tid, pid);
    if (ev.startsWith('cpu-clock')) {
      sample = { cpu, tid, t, frames: [] };
      continue;
    }
    if (ev.startsWith('sched:sched_wakeup')) {
      const w = wk.exec(m[6] ?? '');
      if (!w) continue;
      const who = Number(w[1]);
      if (isControl(who) && !runnable.has(who)) runnable.set(who, t);
      continue;
    }
    if (!ev.startsWith('sched:sched_switch')) continue;
    const s = sw.exec(m[6] ?? '');
    if (!s) continue;
    const [prev, pprio, pstate, next, nprio] = [Number(s[1]), Number(s[2]), s[3] ?? '', Number(s[4]), Number(s[5])];
    prioOf.set(prev, pprio);
    prioOf.set(next, nprio);
    for (const [who, p] of [
      [prev, pprio],
      [next, nprio],
    ] as const) {
      const owner = pidOf.get(who) ?? (who === tid ? pid : undefined);
      if (p === 89 && owner !== undefined && pids.includes(owner) && !control.has(owner)) control.set(owner, who);
    }
    if (isControl(prev)) {
      lastCpu.set(prev, cpu);
      if (pstate.startsWith('R')) runnable.set(prev, t);
      else runnable.delete(prev);
    }
    for (const [c, since] of runnable) {
      if (open.has(c)) continue;
      const at = lastCpu.get(c);
      if (at === undefined) continue;
      open.set(c, { cpu: at, a: since, b: since, holders: new Map(), stacks: new Map(), examples: new Map() });
    }
    // The task that ran on this CPU until now: charged to every control thread waiting here.
    const r = running.get(cpu);
    if (r) {
      for (const w of open.values()) {
        if (w.cpu !== cpu) continue;
        const from = Math.max(r.since, w.a);
        if (t > from && r.tid !== 0) w.holders.set(r.tid, (w.holders.get(r.tid) ?? 0) + (t - from) * 1000);
      }
    }
    running.set(cpu, { tid: next, since: t });
    if (isControl(next)) {
      lastCpu.set(next, cpu);
      const since = runnable.get(next);
      const w = open.get(next);
      open.delete(next);
      runnable.delete(next);
      if (since !== undefined && (t - since) * 1000 >= MIN_WAIT_MS && w) {
        w.b = t;
        waits.set(next, [...(waits.get(next) ?? []), w]);
      }
    }
  }
  finishSample();

  const sides: Record<string, unknown>[] = [];
  for (const [k, pid] of pids.entries()) {
    const side = 'abcdefgh'[k] ?? String(k);
    const tid = control.get(pid);
    // The other daemons of the group: their control threads.
    const ntids = new Set(pids.filter((p) => p !== pid).flatMap((p) => (control.has(p) ? [control.get(p) as number] : [])));
    const d = JSON.parse(readFileSync(join(dir, `${tag}-${side}.json`), 'utf8')) as { figures: { phases: Phase[] } };
    const ph = d.figures.phases[0];
    if (!ph) throw new Error(`${tag}-${side}: no phase`);
    const holderKind = (h: number): string => {
      if (ntids.has(h)) return 'another daemon of the group';
      if (pidOf.get(h) === pid) return 'its own process';
      return (prioOf.get(h) ?? 120) < 100 ? 'another real-time thread' : 'a normal thread';
    };
    const ws = (tid !== undefined ? (waits.get(tid) ?? []) : []).map((w) => {
      const byKind = new Map<string, number>();
      for (const [h, ms] of w.holders) byKind.set(holderKind(h), (byKind.get(holderKind(h)) ?? 0) + ms);
      const main = [...byKind].sort((x, y) => y[1] - x[1])[0];
      const doing: Record<string, number> = {};
      for (const n of ntids) for (const [c, x] of w.stacks.get(n) ?? []) doing[c] = (doing[c] ?? 0) + x;
      const neighbourStacks = [...ntids].flatMap((n) => w.examples.get(n) ?? []);
      return { at: w.a, ms: (w.b - w.a) * 1000, cpu: w.cpu, mainHolder: main?.[0] ?? 'none', byHolder: Object.fromEntries(byKind), neighbourDoing: doing, neighbourStacks };
    });
    const late = ph.lateTicks;
    const charged: Record<string, number> = {};
    const ticks: Record<string, unknown>[] = [];
    if (late) {
      let prevCharge: string | null = null;
      for (const t of late.lateTicks) {
        const end = (t.startedAt + late.monotonicOffsetMs) / 1000;
        const start = end - t.sincePrevStartMs / 1000;
        const n = Math.max(1, t.skipped + (t.lateMs > 50 ? 1 : 0));
        const w = ws.filter((x) => x.at < end && x.at + x.ms / 1000 > start).sort((x, y) => y.ms - x.ms)[0];
        let why = w && w.mainHolder !== 'its own process' ? w.mainHolder : (t.gc?.ms ?? 0) >= 20 ? 'its own collection' : 'other';
        if (why === 'other' && t.lateMs < 5 && prevCharge && prevCharge !== 'other' && t.sincePrevStartMs < 300) why = prevCharge;
        if (why === 'another daemon of the group' && w) {
          const top = Object.entries(w.neighbourDoing).sort((x, y) => y[1] - x[1])[0];
          why += `: ${top?.[0] ?? 'no sample'}`;
        }
        prevCharge = why;
        charged[why] = (charged[why] ?? 0) + n;
        ticks.push({ lateMs: Math.round(t.lateMs * 10) / 10, missed: n, why, waitMs: w ? Math.round(w.ms * 10) / 10 : null });
      }
    }
    const life = ph.life;
    const neighbourWaits = ws.filter((w) => w.mainHolder === 'another daemon of the group');
    const doingTotals: Record<string, number> = {};
    for (const w of neighbourWaits) for (const [c, n] of Object.entries(w.neighbourDoing)) doingTotals[c] = (doingTotals[c] ?? 0) + n;
    sides.push({
      side,
      pid,
      controlTid: tid ?? null,
      cpuNotes: (ph.cpus?.notes ?? []).filter((n) => /control thread|CPU pinning|control CPU/.test(n)),
      load: [ph.loadavg.start[0], ph.loadavg.end[0]],
      window: { controlTicks: ph.controlTicks, missedControl: ph.missedControl, latenessP99Ms: ph.jitterMs?.p99 ?? null, latenessMaxMs: ph.jitterMs?.max ?? null },
      life: life ? { ticks: life.ticks, missedControl: life.missedControl, maxLatenessMs: Math.round(life.maxLatenessMs * 10) / 10 } : null,
      missedBy: charged,
      lateTicks: ticks,
      waits10ms: ws.length,
      waitsByMainHolder: ws.reduce<Record<string, number>>((acc, w) => ({ ...acc, [w.mainHolder]: (acc[w.mainHolder] ?? 0) + 1 }), {}),
      longestBehindOtherDaemon: neighbourWaits
        .sort((x, y) => y.ms - x.ms)
        .slice(0, 3)
        .map((w) => ({ ms: Math.round(w.ms * 10) / 10, doing: w.neighbourDoing, stacks: w.neighbourStacks })),
      waitsBehindOtherDaemon: { n: neighbourWaits.length, maxMs: Math.round(Math.max(0, ...neighbourWaits.map((w) => w.ms)) * 10) / 10, samplesOfWhatItDid: doingTotals },
    });
  }
  const top = [...otherSamples].sort((x, y) => y[1] - x[1]).slice(0, 5);
  return { pair: tag, arm: /^pair-(.+)-\d+$/.exec(tag)?.[1] ?? tag, sides, controlSamplesClassedOther: Object.fromEntries(top) };
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: classify.ts OUTDIR [OUT.json]');
const tags = readdirSync(dir)
  .filter((f) => f.endsWith('.pids'))
  .map((f) => f.replace(/\.pids$/, ''))
  .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
const pairs = [];
for (const tag of tags) pairs.push(await pair(dir, tag));
type Side = { side: string; load: number[]; window: { latenessP99Ms: number | null; latenessMaxMs: number | null }; life: { ticks: number; missedControl: number } | null; missedBy: Record<string, number>; waitsBehindOtherDaemon: { n: number; maxMs: number; samplesOfWhatItDid: Record<string, number> }; cpuNotes: string[] };
const arms = new Map<
  string,
  { lives: number; ticks: number; missed: number; by: Record<string, number>; load: number[]; behind: number; doing: Record<string, number>; p99: number[]; max: number[] }
>();
for (const p of pairs) {
  for (const s of p.sides as Side[]) {
    const a = arms.get(p.arm) ?? { lives: 0, ticks: 0, missed: 0, by: {}, load: [], behind: 0, doing: {}, p99: [], max: [] };
    if (s.window.latenessP99Ms !== null) a.p99.push(s.window.latenessP99Ms);
    if (s.window.latenessMaxMs !== null) a.max.push(s.window.latenessMaxMs);
    a.lives++;
    a.ticks += s.life?.ticks ?? 0;
    a.missed += s.life?.missedControl ?? 0;
    for (const [k, v] of Object.entries(s.missedBy)) a.by[k] = (a.by[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.waitsBehindOtherDaemon.samplesOfWhatItDid)) a.doing[k] = (a.doing[k] ?? 0) + v;
    a.behind += s.waitsBehindOtherDaemon.n;
    a.load.push(...s.load);
    arms.set(p.arm, a);
    const cpu = s.cpuNotes.find((n) => n.startsWith('control thread: CPU')) ?? '?';
    console.log(
      `${p.pair}-${s.side} load ${s.load.map((x) => x.toFixed(0)).join('-')} ${cpu.replace('control thread: ', '')} | missed ${s.life?.missedControl ?? '?'} of ${s.life?.ticks ?? '?'} ticks (${((1e4 * (s.life?.missedControl ?? 0)) / Math.max(1, s.life?.ticks ?? 0)).toFixed(1)} per 10,000) by ${JSON.stringify(s.missedBy)} | window lateness p99 ${s.window.latenessP99Ms?.toFixed(2)} max ${s.window.latenessMaxMs?.toFixed(1)} ms | waits >= 10 ms behind another daemon's control thread ${s.waitsBehindOtherDaemon.n} (max ${s.waitsBehindOtherDaemon.maxMs} ms; its samples ${JSON.stringify(s.waitsBehindOtherDaemon.samplesOfWhatItDid)})`,
    );
  }
}
console.log();
for (const [k, a] of arms) {
  console.log(
    `${k}: ${a.lives} lives, load ${Math.min(...a.load).toFixed(1)}-${Math.max(...a.load).toFixed(1)}; missed ${a.missed} of ${a.ticks} control ticks (${((1e4 * a.missed) / Math.max(1, a.ticks)).toFixed(1)} per 10,000) by ${JSON.stringify(a.by)}; window lateness p99 ${Math.min(...a.p99).toFixed(2)}-${Math.max(...a.p99).toFixed(2)} ms, max ${Math.min(...a.max).toFixed(1)}-${Math.max(...a.max).toFixed(1)} ms; waits >= 10 ms behind another daemon's control thread ${a.behind}, its stack samples then ${JSON.stringify(a.doing)}`,
  );
}
const out = process.argv[3];
if (out) writeFileSync(out, `${JSON.stringify({ pairs, arms: Object.fromEntries(arms) }, null, 1)}\n`);
