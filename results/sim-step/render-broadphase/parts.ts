/**
 * The control step's two halves, base tree against this checkout, for the same P-controller episodes as
 * bench/sim-ab.bench.ts (half with a 2 mm goal error), wrist depth on: per control step, CPU of step() (physics, IK,
 * filter, then the observation), and of observe() alone called again on the same state, best of 3 (render, depth noise,
 * wrench: the frame's cost). The step less that best is the physics side. Trees alternate episode by episode.
 *   npx tsx results/sim-step/render-broadphase/parts.ts --base DIR/src --connectors dt12,dshape14 [--steps 400]
 */
import { resolve } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Observation, Vec3 } from '../../../src/core/types.ts';

const { values } = parseArgs({ options: { base: { type: 'string' }, connectors: { type: 'string' }, steps: { type: 'string', default: '400' } } });
if (!values.base || !values.connectors) throw new Error('usage: parts.ts --base DIR/src --connectors a,b [--steps N]');
const steps = Math.floor(Number(values.steps) / 20) * 20;

interface Cell {
  reset(o: { seed: number; scenario: 'I' }): Observation;
  step(a: Vec3): Observation;
  observe(): Observation;
  dispose(): void;
}
async function tree(src: string) {
  const cell = (await import(resolve(src, 'sim/cell.ts'))) as { SimCell: { create(c: object): Promise<Cell> } };
  const conn = (await import(resolve(src, 'sim/connectors.ts'))) as { loadConnectors(): unknown; findConnector(all: unknown, n: string): object };
  const pc = (await import(resolve(src, 'control/p-controller.ts'))) as { pControl(e: Vec3, g: Vec3): Vec3 };
  const all = conn.loadConnectors();
  return { create: (n: string, goalBias: Vec3) => cell.SimCell.create({ connector: conn.findConnector(all, n), goalBias, depth: true }), pControl: pc.pControl };
}
const cpu = (f: () => void): number => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const trees = { base: await tree(values.base), new: await tree(resolve(import.meta.dirname, '../../../src')) };
const out: Record<string, unknown> = { steps, loadStart: loadavg() };
for (const name of values.connectors.split(',')) {
  const runs = await Promise.all(
    Object.entries(trees).map(async ([label, t]) => {
      const cells = [await t.create(name, [0, 0, 0]), await t.create(name, [0.002, 0, 0])];
      return { label, t, cells, step: [] as number[], frame: [] as number[] };
    }),
  );
  const episode = (r: (typeof runs)[number], e: number, timed: boolean): void => {
    const cell = r.cells[e % 2]!;
    let o = cell.reset({ seed: e, scenario: 'I' });
    for (let k = 0; k < 20; k++) {
      const a = r.t.pControl(o.eePos, o.goal);
      const s = cpu(() => (o = cell.step(a)));
      const f = Math.min(cpu(() => cell.observe()), cpu(() => cell.observe()), cpu(() => cell.observe()));
      if (timed) {
        r.step.push(s);
        r.frame.push(f);
      }
    }
  };
  for (const r of runs) for (let e = 0; e < 6; e++) episode(r, e, false);
  for (let e = 0; e < steps / 20; e++) for (const r of runs) episode(r, e, true);
  for (const r of runs) {
    const s = median(r.step),
      f = median(r.frame);
    console.log(`${name.padEnd(9)} ${r.label.padEnd(4)} step ${s.toFixed(3)} | frame (observe, best of 3) ${f.toFixed(3)} | step less frame ${median(r.step.map((x, i) => x - r.frame[i]!)).toFixed(3)} ms`);
    out[`${name} ${r.label}`] = { stepMedian: s, frameMedian: f, physicsMedian: median(r.step.map((x, i) => x - r.frame[i]!)) };
    for (const c of r.cells) c.dispose();
  }
}
out.loadEnd = loadavg();
console.log(JSON.stringify(out));
