// One line per life and a total per arm from ab.sh's output: missed control ticks over the daemon's life (per 10,000),
// the window's tick lateness p99/max, the control thread's sleeps of 5 ms or more by what they slept on, and every late
// tick's cause. usage: npx tsx summarize.ts OUTDIR [OUT.json]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, outFile] = process.argv.slice(2);
if (!dir) throw new Error('usage: summarize.ts OUTDIR [OUT.json]');

interface Classified {
  tag: string;
  forksByDaemonProcess: unknown[];
  sleeps: {
    t0: number;
    ms: number;
    class: string;
    waker: { tid: number; mainThread: boolean; sameProcess: boolean; class: string; stack: string[] } | null;
    wakerMeanwhile: { onCpuMs: number; runQueueMs: number } | null;
  }[];
  runQueueWaits: { n: number; maxMs: number };
  lateTicks: { lateMs: number; skipped: number; cause: string }[];
}
interface Bench {
  figures: {
    phases: {
      controlTicks: number;
      missedControl: number;
      jitterMs: { p99: number; max: number };
      life: { ticks: number; missed: number; missedControl: number } | null;
      loadavg: { start: number[]; end: number[] };
      spawns?: { n: number; callMs: { median: number; p99: number; max: number } };
      forkCeiling?: boolean | null;
    }[];
  };
}

const rows: Record<string, unknown>[] = [];
const arms = new Map<string, { lives: number; ticks: number; missed: number; p99: number[]; max: number[]; mmap: number[]; mmapOver50: number; late: string[] }>();
for (const f of readdirSync(dir)
  .filter((x) => x.endsWith('.classified.json'))
  .sort()) {
  const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Classified;
  const b = JSON.parse(readFileSync(join(dir, `${c.tag}.json`), 'utf8')) as Bench;
  const p = b.figures.phases[0]!;
  const arm = /-(on|off)-\d+-\d+$/.exec(c.tag)?.[1] ?? 'other';
  const mmap = c.sleeps.filter((s) => s.class.startsWith('mmap_lock')).map((s) => s.ms);
  const byClass: Record<string, { n: number; maxMs: number }> = {};
  for (const s of c.sleeps) {
    const k = `${s.class} <- ${s.waker?.class === 'timer expiry' ? 'timer' : s.waker?.mainThread ? 'main thread' : s.waker?.sameProcess ? 'own thread' : 'other'}`;
    const e = (byClass[k] ??= { n: 0, maxMs: 0 });
    e.n++;
    e.maxMs = Math.max(e.maxMs, s.ms);
  }
  // Every sleep of 50 ms or more, by what released it: the waker's stack names it (the class of the sleeper's own stack
  // can be a neighbouring switch's when perf lost events under load).
  const SITES = ['dup_mmap', '__malloc_fork_unlock_parent', 'NotifyPark', 'pthread_cond_wait', 'hrtimer_wakeup', 'do_exit'];
  const stalls = c.sleeps
    .filter((s) => s.ms >= 50)
    .map((s) => {
      const site = SITES.find((x) => s.waker?.stack.some((f) => f.startsWith(x))) ?? (s.waker?.stack.length ? 'other' : 'no stack recorded');
      const who = s.waker ? (s.waker.mainThread ? 'main thread' : s.waker.sameProcess ? `thread ${s.waker.tid}` : 'another process') : '?';
      const mw = s.wakerMeanwhile ? `, it was runnable ${s.wakerMeanwhile.runQueueMs.toFixed(0)} ms and on a CPU ${s.wakerMeanwhile.onCpuMs.toFixed(0)} ms meanwhile` : '';
      return `${s.ms.toFixed(0)} ms (${s.class}), released by the ${who} at ${site}${mw}`;
    });
  const row = {
    tag: c.tag,
    arm,
    load: [...p.loadavg.start.slice(0, 1), ...p.loadavg.end.slice(0, 1)].map((x) => Number(x.toFixed(1))),
    lifeTicks: p.life?.ticks ?? null,
    lifeMissedControl: p.life?.missedControl ?? null,
    windowControlTicks: p.controlTicks,
    windowMissedControl: p.missedControl,
    latenessP99Ms: Number(p.jitterMs.p99.toFixed(2)),
    latenessMaxMs: Number(p.jitterMs.max.toFixed(1)),
    forks: c.forksByDaemonProcess.length,
    spawnCallMs: p.spawns ? { p50: Number(p.spawns.callMs.median.toFixed(1)), max: Number(p.spawns.callMs.max.toFixed(1)) } : null,
    sleepsOver5Ms: byClass,
    mmapLockSleeps: { n: mmap.length, maxMs: Number(Math.max(0, ...mmap).toFixed(1)) },
    runQueueWaitsOver5Ms: c.runQueueWaits,
    lateTicks: c.lateTicks.map((l) => `${l.lateMs.toFixed(0)} ms: ${l.cause}`),
    stallsOver50Ms: stalls,
  };
  rows.push(row);
  const a = arms.get(arm) ?? { lives: 0, ticks: 0, missed: 0, p99: [], max: [], mmap: [], mmapOver50: 0, late: [] };
  a.lives++;
  a.ticks += p.life?.ticks ?? 0;
  a.missed += p.life?.missedControl ?? 0;
  a.p99.push(p.jitterMs.p99);
  a.max.push(p.jitterMs.max);
  a.mmap.push(...mmap);
  a.mmapOver50 += mmap.filter((m) => m >= 50).length;
  a.late.push(...row.lateTicks);
  arms.set(arm, a);
  console.log(
    `${c.tag} load ${row.load.join('-')}: missed ${row.lifeMissedControl} of ${row.lifeTicks} life ticks; window p99 ${row.latenessP99Ms} max ${row.latenessMaxMs} ms; ` +
      `${row.forks} forks${row.spawnCallMs ? ` (spawn call p50 ${row.spawnCallMs.p50} max ${row.spawnCallMs.max} ms)` : ''}; mmap_lock sleeps ${mmap.length} (max ${row.mmapLockSleeps.maxMs} ms); ` +
      `late: ${row.lateTicks.join(' | ') || 'none'}; stalls >= 50 ms: ${stalls.join(' | ') || 'none'}`,
  );
}
const range = (x: number[]): string => (x.length ? `${Math.min(...x).toFixed(2)}-${Math.max(...x).toFixed(2)}` : '-');
const totals = Object.fromEntries(
  [...arms.entries()].map(([k, a]) => [
    k,
    {
      lives: a.lives,
      missed: a.missed,
      ticks: a.ticks,
      per10k: Number(((a.missed / Math.max(1, a.ticks)) * 1e4).toFixed(1)),
      latenessP99Ms: range(a.p99),
      latenessMaxMs: range(a.max),
      mmapLockSleeps: a.mmap.length,
      mmapLockMaxMs: Number(Math.max(0, ...a.mmap).toFixed(1)),
      mmapLockOver50Ms: a.mmapOver50,
      lateTicks: a.late,
    },
  ]),
);
for (const [k, t] of Object.entries(totals))
  console.log(
    `${k}: ${t.lives} lives, missed ${t.missed} of ${t.ticks} (${t.per10k} per 10,000); lateness p99 ${t.latenessP99Ms} ms, max ${t.latenessMaxMs} ms; mmap_lock sleeps ${t.mmapLockSleeps} (max ${t.mmapLockMaxMs} ms, ${t.mmapLockOver50Ms} >= 50 ms)`,
  );
if (outFile) writeFileSync(outFile, `${JSON.stringify({ lives: rows, totals }, null, 1)}\n`);
