/**
 * The simulated control step of two source trees side by side in one process: this checkout and a base copy of
 * `src/` (for example `git archive HEAD~1 src data config | tar -x -C /tmp/base`, with /tmp/base/node_modules and
 * /tmp/base/data linked to this checkout's). Both run the same P-controller episodes (half with a 2 mm goal error),
 * interleaved one episode at a time, so load on a shared machine falls on both alike. Per connector it prints wall and
 * CPU median and p99 of a step, the inserted episodes, and hashes of every image and of every tip pose and wrench:
 * equal hashes mean the change left images and trajectories bitwise as they were.
 *   npx tsx bench/sim-ab.bench.ts --base /tmp/base/src [--connectors square16,europlug,dt12,round12] [--steps 400] [--depth]
 */
import { resolve } from 'node:path';
import type { Observation, Vec3 } from '../src/core/types.ts';
import { benchArgs, SIM_AB } from './commands.ts';
import { summarize, writeResults } from './lib.ts';

const args = benchArgs(SIM_AB);
const { base: baseDir, connectors, depth } = args;
const steps = Math.floor(args.steps / 20) * 20;
const figures: Record<string, unknown> = { base: resolve(baseDir), steps, depth };

interface Cell {
  reset(o: { seed: number; scenario: 'I' }): Observation;
  step(a: Vec3): Observation;
  groundTruth(): { success: boolean };
  dispose(): void;
}
interface Tree {
  create(connector: string, goalBias: Vec3): Promise<Cell>;
  pControl(eePos: Vec3, goal: Vec3): Vec3;
}

async function tree(src: string): Promise<Tree> {
  const cellMod = (await import(resolve(src, 'sim/cell.ts'))) as { SimCell: { create(c: object): Promise<Cell> } };
  const conn = (await import(resolve(src, 'sim/connectors.ts'))) as { loadConnectors(): unknown; findConnector(all: unknown, n: string): object };
  const pc = (await import(resolve(src, 'control/p-controller.ts'))) as { pControl(e: Vec3, g: Vec3): Vec3 };
  const all = conn.loadConnectors();
  return { create: (n, goalBias) => cellMod.SimCell.create({ connector: conn.findConnector(all, n), goalBias, depth }), pControl: (e, g) => pc.pControl(e, g) };
}

const trees: Record<string, Tree> = { base: await tree(baseDir), new: await tree(resolve(import.meta.dirname, '../src')) };
console.log(
  `side by side: base = ${baseDir}, new = this checkout; ${steps} steps per connector${depth ? ', depth on' : ''}; load average ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

for (const name of connectors) {
  const runs = await Promise.all(
    Object.entries(trees).map(async ([label, t]) => {
      const exact = await t.create(name, [0, 0, 0]);
      const biased = await t.create(name, [0.002, 0, 0]);
      return {
        label,
        t,
        exact,
        biased,
        cell: exact,
        obs: exact.reset({ seed: 0, scenario: 'I' }),
        k: 0,
        episode: 0,
        inserted: 0,
        wall: [] as number[],
        cpu: [] as number[],
        imageHash: 0,
        poseHash: 0,
      };
    }),
  );
  type Run = (typeof runs)[number];
  const one = (r: Run, timed: boolean): void => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    r.obs = r.cell.step(r.t.pControl(r.obs.eePos, r.obs.goal));
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    if (timed) {
      r.wall.push(t1 - t0);
      r.cpu.push((c.user + c.system) / 1000);
      const img = r.obs.image.data;
      for (let i = 0; i < img.length; i++) r.imageHash = (Math.imul(r.imageHash, 31) + img[i]!) | 0;
      if (r.obs.depth) for (const x of new Int32Array(r.obs.depth.data.buffer)) r.imageHash = (Math.imul(r.imageHash, 31) + x) | 0;
      for (const x of new Int32Array(Float64Array.from([...r.obs.eePos, ...r.obs.wrench]).buffer)) r.poseHash = (Math.imul(r.poseHash, 31) + x) | 0;
    }
    if (++r.k % 20 === 0) {
      if (timed && r.cell.groundTruth().success) r.inserted++;
      r.episode++;
      r.cell = r.episode % 2 ? r.biased : r.exact;
      r.obs = r.cell.reset({ seed: r.episode, scenario: 'I' });
    }
  };
  // Warm-up (V8 tiers JS and wasm up), then both trees restart from the same first episode.
  for (const r of runs) {
    const t = performance.now();
    while (performance.now() - t < 1000) one(r, false);
    Object.assign(r, { k: 0, episode: 0, cell: r.exact, obs: r.exact.reset({ seed: 0, scenario: 'I' }) });
  }
  for (let e = 0; e < steps / 20; e++) for (const r of runs) for (let i = 0; i < 20; i++) one(r, true);
  for (const r of runs) {
    const w = summarize(r.wall);
    const c = summarize(r.cpu);
    console.log(
      `${name.padEnd(9)} ${r.label.padEnd(4)} wall median ${w.median.toFixed(3)} p99 ${w.p99.toFixed(3)} | cpu median ${c.median.toFixed(3)} p99 ${c.p99.toFixed(3)} ms | inserted ${r.inserted}/${steps / 20} | image hash ${r.imageHash} | pose+wrench hash ${r.poseHash}`,
    );
    figures[`${name} ${r.label}`] = { wall: w, cpu: c, inserted: r.inserted, episodes: steps / 20, imageHash: r.imageHash, poseHash: r.poseHash };
    r.exact.dispose();
    r.biased.dispose();
  }
}
console.log(`wrote ${writeResults('sim-ab', figures)}`);
