/**
 * Reading finished experiment runs side by side (`experiment --compare`, `experiment --practice-counts`):
 * - a candidate's runs against reference runs, per seed and per connector: curves, the learned and ground-truth rates
 *   at the end, dips, finals, and the best point within the practice budget;
 * - each run's practice episodes per evaluation interval, from its daemon log: seated by ground truth, called a
 *   success by the learned reward (p > 0.5), both.
 * - each run's practice episodes per evaluation interval: how many trainer updates the policy that drove them was behind
 *   the updates owed for the practice logged before them (`experiment --trainer-lag`).
 * The first two print what results/online-seeds-utd4/{compare,practice}.py printed (they replaced them), byte for byte.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readLog } from '../store/index.ts';
import { fixed } from '../util/py-format.ts';
import type { CurvePoint } from './online.ts';

/** A run's curve (`<root>/seed-S-C/C/curve.json`), or null when it is absent or the run did not finish: its last
 *  point is short of the practice episodes its settings.json asked for. */
export function finishedCurve(root: string, seed: number, connector: string): CurvePoint[] | null {
  const dir = join(root, `seed-${seed}-${connector}`);
  const file = join(dir, connector, 'curve.json');
  if (!existsSync(file)) return null;
  const settingsFile = join(dir, 'settings.json');
  if (!existsSync(settingsFile)) throw new Error(`${settingsFile} does not exist: cannot tell whether ${file} is finished`);
  const episodes = (JSON.parse(readFileSync(settingsFile, 'utf8')) as { episodes?: unknown }).episodes;
  if (typeof episodes !== 'number') throw new Error(`${settingsFile}: field 'episodes' is missing`);
  const pts = JSON.parse(readFileSync(file, 'utf8')) as CurvePoint[];
  return pts.length > 1 && pts.at(-1)?.practiceEpisodes === episodes ? pts : null;
}

/** The offline level minus the lowest later point (0 if none is lower). */
const dip = (pts: CurvePoint[]): number => Math.max(0, (pts[0]?.successes ?? 0) - Math.min(...pts.slice(1).map((p) => p.successes)));
const two = (x: number | null): string => (x === null ? '-' : fixed(x, 2));
function rates(pts: CurvePoint[]): string {
  const end = pts.at(-1);
  return end?.learnedSuccessRate === null || end === undefined ? '-' : `${two(end.learnedSuccessRate)} / ${two(end.gtSuccessRate)}`;
}
const meanText = (xs: number[]): string => (xs.length ? fixed(xs.reduce((a, b) => a + b, 0) / xs.length, 1) : '-');
const extreme = (f: (...xs: number[]) => number, xs: number[]): string => (xs.length ? String(f(...xs)) : '-');

/** The seeds of `<root>/seed-S-<connector>` runs, ascending. */
export function runSeeds(root: string, connectors: readonly string[]): number[] {
  const seeds = readdirSync(root).flatMap((d) => {
    const m = /^seed-(\d+)-(.+)$/.exec(d);
    return m && connectors.includes(m[2] as string) ? [Number(m[1])] : [];
  });
  return [...new Set(seeds)].sort((a, b) => a - b);
}

/**
 * A candidate's runs against reference runs (each root holds seed-S-C/C/curve.json), as markdown: one row per seed
 * the candidate finished, then one per connector and one over all.
 */
export function compareRuns(candidate: string, reference: string, connectors: readonly string[], seeds: readonly number[]): string[] {
  for (const root of [candidate, reference]) if (!existsSync(root)) throw new Error(`${root} does not exist (a directory of seed-S-C runs)`);
  const out = [
    '| connector | seed | reference: curve 0..100 | learned / gt at 100 | candidate: curve 0..100 | learned / gt at 100 | dip ref / cand |',
    '|---|---|---|---|---|---|---|',
  ];
  const byConnector = new Map<string, Array<{ r: CurvePoint[] | null; k: CurvePoint[] }>>();
  for (const c of connectors) {
    for (const s of seeds) {
      const k = finishedCurve(candidate, s, c);
      if (!k) continue;
      const r = finishedCurve(reference, s, c);
      const curve = (pts: CurvePoint[]): string => pts.map((p) => p.successes).join(' ');
      out.push(`| ${c} | ${s} | ${r ? curve(r) : '-'} | ${r ? rates(r) : '-'} | ${curve(k)} | ${rates(k)} | ${r ? dip(r) : '-'} / ${dip(k)} |`);
      byConnector.set(c, [...(byConnector.get(c) ?? []), { r, k }]);
    }
  }
  out.push(
    '',
    '| connector | seeds | reference final | mean | worst | worst dip | candidate final | mean | worst | worst dip | best within 100 (cand) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const all = { rf: [] as number[], kf: [] as number[], rd: [] as number[], kd: [] as number[] };
  for (const [c, pairs] of byConnector) {
    const refs = pairs.flatMap(({ r }) => (r ? [r] : []));
    const rf = refs.map((r) => r.at(-1)?.successes ?? 0);
    const kf = pairs.map(({ k }) => k.at(-1)?.successes ?? 0);
    const rd = refs.map(dip);
    const kd = pairs.map(({ k }) => dip(k));
    const kb = pairs.map(({ k }) => Math.max(...k.slice(1).map((p) => p.successes)));
    all.rf.push(...rf);
    all.kf.push(...kf);
    all.rd.push(...rd);
    all.kd.push(...kd);
    out.push(
      `| ${c} | ${pairs.length} | ${rf.join(', ')} | ${meanText(rf)} | ${extreme(Math.min, rf)} | ${extreme(Math.max, rd)} | ${kf.join(', ')} | ${meanText(kf)} | ${extreme(Math.min, kf)} | ${extreme(Math.max, kd)} | ${kb.join(', ')} |`,
    );
  }
  if (all.kf.length)
    out.push(
      `| all | ${all.kf.length} runs | | ${meanText(all.rf)} | ${extreme(Math.min, all.rf)} | ${extreme(Math.max, all.rd)} | | ${meanText(all.kf)} | ${extreme(Math.min, all.kf)} | ${extreme(Math.max, all.kd)} | |`,
    );
  return out;
}

/**
 * Each run's practice episodes in windows of `window` (oldest first), from its daemon log (`<run>/<connector>/daemon-*.db`,
 * the first by name): "seated by ground truth / called a success by the learned reward (p > 0.5) / both" per window.
 * One line per run, named by it; a run of several connectors, one line per connector (`run/connector`). A run without a
 * log is left out.
 */
export function practiceCounts(runs: readonly string[], window: number): string[] {
  return runs.flatMap((run) => {
    const logs = runLogs(run);
    const name = basename(run.replace(/\/+$/, ''));
    return logs.map(({ connector, db }) => {
      // A log of an older build is read from a migrated copy (readLog); the run's file stays as it was.
      const episodes = readLog(db, (s) => s.listEpisodes({ kind: 'practice', order: 'asc', limit: Number.MAX_SAFE_INTEGER }));
      const called = (p: number | null): boolean => p !== null && p > 0.5;
      const parts: string[] = [];
      for (let i = 0; i < episodes.length; i += window) {
        const b = episodes.slice(i, i + window);
        const gt = b.filter((e) => e.gtSuccess === true).length;
        const learned = b.filter((e) => called(e.learnedSuccessProb)).length;
        const both = b.filter((e) => e.gtSuccess === true && called(e.learnedSuccessProb)).length;
        parts.push(`${gt}/${learned}/${both}`);
      }
      return `${logs.length > 1 ? `${name}/${connector}` : name}: ${parts.join('  ')}`;
    });
  });
}

/** A run's daemon logs: `<run>/<connector>/daemon-*.db` (the first by name), per connector directory (by name). */
export function runLogs(run: string): Array<{ connector: string; db: string }> {
  return existsSync(run)
    ? readdirSync(run, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
        .flatMap((c) => {
          const db = readdirSync(join(run, c))
            .filter((f) => /^daemon-.*\.db$/.test(f))
            .sort()[0];
          return db === undefined ? [] : [{ connector: c, db: join(run, c, db) }];
        })
    : [];
}

/**
 * How far the trainer was behind the practice it drove, per window of `window` practice episodes (oldest first), from
 * each run's log: for each practice episode, the updates owed for the practice before it (`utd` x its transitions,
 * utd from the run's settings.json) minus the updates of the version that drove it (the `updates` of that version's
 * trainer export event; a version the trainer never exported, the offline policy, counts 0). Printed per window as
 * "mean updates behind (versions that drove the window)". 0 behind: every episode was driven by the version trained on
 * all the practice before it, as `--sync-every 1` makes it (the warm-up's exports then still carry the offline policy).
 */
export function trainerLag(runs: readonly string[], window: number): string[] {
  return runs.flatMap((run) => {
    const settingsFile = join(run, 'settings.json');
    if (!existsSync(settingsFile)) throw new Error(`${settingsFile} does not exist: the run's utd is unknown`);
    const utd = (JSON.parse(readFileSync(settingsFile, 'utf8')) as { trainer?: { utd?: unknown } }).trainer?.utd;
    if (typeof utd !== 'number') throw new Error(`${settingsFile}: field 'trainer.utd' is missing`);
    const logs = runLogs(run);
    const name = basename(run.replace(/\/+$/, ''));
    return logs.map(({ connector, db }) => {
      const { episodes, steps, updates } = readLog(db, (s) => {
        const episodes = s.listEpisodes({ kind: 'practice', order: 'asc', limit: Number.MAX_SAFE_INTEGER });
        const steps = episodes.map((e) => s.countTransitions({ episodeIds: [e.id] }));
        const updates = new Map<string, number>();
        for (const ev of s.listEvents({ kind: 'trainer', limit: Number.MAX_SAFE_INTEGER })) {
          const d = ev.data as { version?: unknown; updates?: unknown } | null;
          if (typeof d?.version === 'string' && typeof d.updates === 'number') updates.set(d.version, d.updates);
        }
        return { episodes, steps, updates };
      });
      const parts: string[] = [];
      let owed = 0;
      let behind = 0;
      let versions = new Set<string>();
      episodes.forEach((e, i) => {
        behind += owed - (updates.get(e.policyVersion ?? '') ?? 0);
        versions.add(e.policyVersion ?? '-');
        owed += utd * (steps[i] ?? 0);
        const n = (i % window) + 1;
        if (n === window || i === episodes.length - 1) {
          parts.push(`${Math.round(behind / n)} (${versions.size})`);
          behind = 0;
          versions = new Set();
        }
      });
      return `${logs.length > 1 ? `${name}/${connector}` : name}: ${parts.join('  ')}`;
    });
  });
}
