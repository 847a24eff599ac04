/**
 * Soak: many simulated practice episodes with the background trainer exporting and the daemon hot-swapping its
 * versions, sampled as it goes: the daemon's resident memory and open descriptors, the trainer's resident memory, the
 * log's size on disk, and the control tick's compute p99 (the newest window). Written as soak.json and a plot
 * (soak.svg / soak.png, the same SVG-to-PNG path as results/*\/curve.png). Bounded means: memory and descriptors flat
 * after warm-up (the last quarter's mean within 25 % / 10 descriptors of the second quarter's), the log growing
 * linearly with transitions (not faster), tick p99 not drifting up (tickP99Drift: quarters' medians, so one loaded moment
 * is reported but does not fail the row).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLearning } from '../app/learning.ts';
import { svgToPngFile } from '../robot/image-codec.ts';
import { points, polyline, SVG_CLOSE, svgOpen, svgText } from '../util/svg-chart.ts';
import { procUsage, ROOT } from './proc.ts';
import { campaignRig, rigTrainer, threadedRig } from './rig.ts';
import { RowBuilder, sleep, type Row } from './report.ts';

export interface SoakSample {
  episodes: number;
  transitions: number;
  seconds: number;
  rssMiB: number;
  fds: number;
  trainerRssMiB: number | null;
  /** The trainer's live tfjs tensors (its progress): flat when nothing leaks. */
  trainerTensors?: number | null;
  dbMiB: number;
  tickP99Ms: number | null;
  /** Tick start lateness p99 (newest window) and missed control ticks so far: real time only (null free-running). */
  latenessP99Ms?: number | null;
  missedControl?: number;
  swaps: number;
}

export function soakSvg(samples: readonly SoakSample[], title: string): string {
  const W = 900,
    H = 620,
    L = 70,
    R = 30,
    T = 40;
  const panels: Array<[string, (s: SoakSample) => number | null, string]> = [
    ['resident memory (MiB): daemon, trainer (dashed)', (s) => s.rssMiB, '#1f77b4'],
    ['open file descriptors (daemon)', (s) => s.fds, '#d62728'],
    ['log size on disk (MiB)', (s) => s.dbMiB, '#2ca02c'],
    ['control tick compute p99 (ms); in real time also start lateness p99 (dashed)', (s) => s.tickP99Ms, '#9467bd'],
  ];
  const ph = (H - T - 40) / panels.length;
  const maxEp = Math.max(1, ...samples.map((s) => s.episodes));
  const x = (e: number): number => L + ((W - L - R) * e) / maxEp;
  const out: string[] = [svgOpen(W, H, ' font-family="sans-serif" font-size="11"')];
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${svgText(title)}</text>`);
  panels.forEach(([name, get, colour], k) => {
    const top = T + k * ph;
    const vals = samples.map(get).filter((v): v is number => v !== null && Number.isFinite(v));
    // The dashed line of a panel: the trainer's memory beside the daemon's, the tick's start lateness beside its compute.
    const dashed = k === 0 ? (s: SoakSample) => s.trainerRssMiB : k === 3 ? (s: SoakSample) => s.latenessP99Ms ?? null : null;
    const extra = dashed ? samples.map(dashed).filter((v): v is number => v !== null && Number.isFinite(v)) : [];
    const hi = Math.max(1e-9, ...vals, ...extra) * 1.1;
    const y = (v: number): number => top + (ph - 22) * (1 - v / hi) + 14;
    out.push(`<text x="${L}" y="${top + 10}">${name}</text>`);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(0)}" y2="${y(0)}" stroke="#999"/><text x="${L - 6}" y="${y(0) + 4}" text-anchor="end">0</text>`);
    out.push(`<text x="${L - 6}" y="${y(hi / 1.1) + 4}" text-anchor="end">${(hi / 1.1).toPrecision(3)}</text>`);
    const line = (g: (s: SoakSample) => number | null, dash: string): void => {
      const pts = samples.flatMap((s): Array<[number, number]> => {
        const v = g(s);
        return v === null || !Number.isFinite(v) ? [] : [[x(s.episodes), y(v)]];
      });
      if (pts.length) out.push(polyline(points(pts), colour, 1.5, dash));
    };
    line(get, '');
    if (dashed) line(dashed, ' stroke-dasharray="4 3"');
  });
  out.push(`<text x="${L}" y="${H - 22}" text-anchor="middle">0</text><text x="${W - R}" y="${H - 22}" text-anchor="middle">${maxEp}</text>`);
  const lastS = samples[samples.length - 1];
  const missed = lastS?.missedControl !== undefined ? `, missed control ticks: ${lastS.missedControl}` : '';
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">practice episodes (swaps: ${lastS?.swaps ?? 0}${missed})</text>`);
  out.push(SVG_CLOSE);
  return out.join('\n');
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const median = (xs: readonly number[]): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The rule of the soak's "tick p99 steady" check, as the campaign prints it. */
export const TICK_P99_RULE =
  "the median of the per-window tick p99s in the last quarter of the samples is at most 1.5 x the second quarter's + 2 ms (a burst of slow windows shorter than half a quarter is reported, not failed)";

/**
 * "tick p99 steady" over the soak's samples (each the compute p99 of the newest window of ticks): the last quarter's
 * median against the second quarter's. Medians, not means: one loaded moment puts a few consecutive windows at 30 ms
 * (the windows overlap), which moved a mean past any sane bound; a drift moves the whole quarter, so its median.
 */
export function tickP99Drift(p99s: readonly number[]): { second: number; last: number; lastMax: number; problems: string[] } {
  const q = Math.floor(p99s.length / 4);
  const second = p99s.slice(q, 2 * q);
  const last = p99s.slice(3 * q);
  const m2 = median(second);
  const m4 = median(last);
  const lastMax = last.length ? Math.max(...last) : NaN;
  const problems =
    q > 0 && m4 > m2 * 1.5 + 2 ? [`tick compute p99 rose from a median of ${m2.toFixed(1)} to ${m4.toFixed(1)} ms (rule: ${TICK_P99_RULE})`] : [];
  return { second: m2, last: m4, lastMax, problems };
}

export async function soak(o: {
  dir: string;
  episodes: number;
  out: string;
  /** The control thread at 10 Hz real time (the product), instead of the in-process loop free-running. */
  realtime?: boolean;
  /** Stop after this long (a deadline), with the episodes done so far. */
  maxMinutes?: number;
  log?: (s: string) => void;
}): Promise<Row> {
  const realtime = o.realtime ?? false;
  const row = new RowBuilder(`soak (${o.episodes} practice episodes with training and swaps${realtime ? ', control thread at 10 Hz' : ', free-running'})`);
  const log = o.log ?? (() => undefined);
  const r = realtime
    ? await threadedRig({ dir: o.dir, overrides: { episodeSteps: 20 } })
    : await campaignRig({ dir: o.dir, modelsDir: join(ROOT, 'models'), listen: true, overrides: { episodeSteps: 20, realtime: false } });
  const d = r.app.daemon;
  const learning = startLearning(r.app, {
    trainer: rigTrainer(r, o.dir, { exportEvery: 200, seed: 3 }),
    swap: { validation: { ...r.app.swapValidation, onFlag: 'accept' } },
  });
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const every = Math.max(1, Math.round(o.episodes / 100));
  let lastSampled = -1;
  try {
    const run = (): void => {
      if (d.currentState === 'estopped') d.resetEstop();
      if (d.status().practice === null) d.startPractice({ count: o.episodes, scenario: 'II', explorationNoise: 0.001 });
    };
    run();
    for (;;) {
      await sleep(500);
      run();
      const n = r.app.log.store.counts().episodes;
      if (n - lastSampled >= every || n >= o.episodes) {
        lastSampled = n;
        const u = procUsage(process.pid);
        const tp = learning.supervisor.status().pid;
        const tu = tp ? procUsage(tp) : null;
        const t = d.status().timing;
        samples.push({
          episodes: n,
          transitions: r.app.log.store.countTransitions(),
          seconds: (performance.now() - t0) / 1000,
          rssMiB: u.rssBytes / 2 ** 20,
          fds: u.fds,
          trainerRssMiB: tu ? tu.rssBytes / 2 ** 20 : null,
          trainerTensors: learning.supervisor.status().progress?.tensors?.count ?? null,
          dbMiB: r.app.log.store.sizeBytes() / 2 ** 20,
          tickP99Ms: t.computeMs.p99,
          ...(realtime ? { latenessP99Ms: t.jitterMs.p99, missedControl: t.missedControl } : {}),
          swaps: learning.swaps.stats.swaps,
        });
        // Written as it goes: a soak stopped early (a deadline, a crash) still leaves its samples to plot.
        mkdirSync(o.out, { recursive: true });
        writeFileSync(join(o.out, 'soak.partial.json'), `${JSON.stringify(samples)}\n`);
        if (samples.length % 10 === 0)
          log(
            `  soak: ${n} episodes, rss ${samples.at(-1)?.rssMiB.toFixed(0)} MiB, fds ${samples.at(-1)?.fds}, swaps ${learning.swaps.stats.swaps}` +
              (realtime ? `, missed control ticks ${t.missedControl}` : ''),
          );
      }
      if (n >= o.episodes) break;
      if (o.maxMinutes !== undefined && performance.now() - t0 > o.maxMinutes * 60_000) {
        log(`  soak: stopped at the ${o.maxMinutes} min limit after ${n} episodes`);
        break;
      }
    }
  } catch (e) {
    row.crashed('soak', e);
  } finally {
    d.stopPractice();
    await learning.close();
  }
  await r.close();
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'soak.json'), `${JSON.stringify(samples, null, 1)}\n`);
  const how = realtime ? 'control thread at 10 Hz' : 'free-running in process';
  const svg = soakSvg(samples, `soak: ${o.episodes} practice episodes, trainer + hot-swaps, ${how} (${new Date().toISOString().slice(0, 10)})`);
  writeFileSync(join(o.out, 'soak.svg'), svg);
  await svgToPngFile(svg, join(o.out, 'soak.png'));
  const q = Math.floor(samples.length / 4);
  const second = samples.slice(q, 2 * q);
  const last = samples.slice(3 * q);
  const rss2 = mean(second.map((s) => s.rssMiB));
  const rss4 = mean(last.map((s) => s.rssMiB));
  const fd2 = mean(second.map((s) => s.fds));
  const fd4 = mean(last.map((s) => s.fds));
  const bytesPerTransition = samples.map((s) => (s.dbMiB * 2 ** 20) / Math.max(1, s.transitions));
  const p99 = samples.map((s) => s.tickP99Ms).filter((v): v is number => v !== null);
  row.check('memory bounded', q > 0 && rss4 > rss2 * 1.25 ? [`resident memory grew from ${rss2.toFixed(0)} to ${rss4.toFixed(0)} MiB`] : []);
  row.check('descriptors bounded', q > 0 && fd4 > fd2 + 10 ? [`open descriptors grew from ${fd2.toFixed(0)} to ${fd4.toFixed(0)}`] : []);
  const bpt2 = mean(bytesPerTransition.slice(q, 2 * q));
  const bpt4 = mean(bytesPerTransition.slice(3 * q));
  row.check('log grows linearly', q > 0 && bpt4 > bpt2 * 1.25 ? [`bytes per transition grew from ${bpt2.toFixed(0)} to ${bpt4.toFixed(0)}`] : []);
  const drift = tickP99Drift(p99);
  const p2 = drift.second;
  const p4 = drift.last;
  row.check('tick p99 steady', drift.problems);
  row.data.tickP99Rule = TICK_P99_RULE;
  // A soak of hundreds of episodes must also have swapped policies (the trainer exports every 200 updates).
  if (o.episodes >= 200) row.check('hot-swaps happened', (samples.at(-1)?.swaps ?? 0) > 0 ? [] : ['no policy was swapped in']);
  row.data.samples = samples.length;
  row.data.plot = join(o.out, 'soak.png');
  const lastS = samples.at(-1);
  row.data.summary = {
    rssMiB: [rss2, rss4],
    fds: [fd2, fd4],
    bytesPerTransition: [bpt2, bpt4],
    tickP99Ms: [p2, p4],
    tickP99MaxLastQuarterMs: drift.lastMax,
    swaps: lastS?.swaps,
    episodes: lastS?.episodes,
    dbMiB: lastS?.dbMiB,
    ...(realtime
      ? {
          missedControlTicks: lastS?.missedControl,
          latenessP99Ms: [mean(second.map((x) => x.latenessP99Ms ?? NaN)), mean(last.map((x) => x.latenessP99Ms ?? NaN))],
        }
      : {}),
  };
  const stopped = (lastS?.episodes ?? 0) < o.episodes ? ` (stopped at the ${o.maxMinutes} min limit)` : '';
  const missedText = realtime ? `, missed control ticks ${lastS?.missedControl ?? '-'}` : '';
  return row.done(
    `${lastS?.episodes ?? 0} episodes${stopped}, ${lastS?.swaps ?? 0} swaps in ${((lastS?.seconds ?? 0) / 60).toFixed(1)} min${missedText}: RSS ${rss2.toFixed(0)} -> ${rss4.toFixed(0)} MiB, ` +
      `fds ${fd2.toFixed(0)} -> ${fd4.toFixed(0)}, log ${lastS?.dbMiB.toFixed(1) ?? '-'} MiB (${bpt4.toFixed(0)} B/transition), tick p99 median ${p2.toFixed(1)} -> ${p4.toFixed(1)} ms (2nd vs last quarter, steady if <= 1.5 x + 2 ms; last quarter's max ${drift.lastMax.toFixed(1)} ms); plot ${join(o.out, 'soak.png')}`,
  );
}
