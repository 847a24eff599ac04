/**
 * Collision detection alone, old and new cell model side by side: the step's collision share is what a change to the
 * socket's pieces or the plug's bodies moves, and a whole control step under load is too noisy to show a few per cent.
 * One trajectory is recorded from this checkout's P-controller episodes (every 5th physics state, settling included);
 * both trees' models for the connector then run mj_kinematics + mj_collision on every recorded joint state. Both
 * models have the same joints, so the states fit both. A third row runs this checkout's model with the socket geoms'
 * conaffinity as the cell's contact filter had set it for that state (src/sim/contact-filter.ts; the filter's own cost
 * is not in it). Per row: the best of several passes of CPU time per state (a pass the OS interrupted only gets
 * slower), and the mean contacts per state (equal counts: the same contacts).
 *   npx tsx bench/sim-collision.bench.ts --base /tmp/base/src [--connectors round12,roundkey] [--episodes 20]
 */
import { resolve } from 'node:path';
import { pControl } from '../src/control/p-controller.ts';
import { SimCell } from '../src/sim/cell.ts';
import { findConnector, loadConnectors, type ConnectorDef } from '../src/sim/connectors.ts';
import { compileXml, mujoco } from '../src/sim/mujoco.ts';
import { benchArgs, SIM_COLLISION } from './commands.ts';
import { writeResults } from './lib.ts';

const args = benchArgs(SIM_COLLISION);
type BuildXml = (def: ConnectorDef, opt: { timestep: number; armVisuals: boolean }) => { xml: string };
const builders: [string, BuildXml][] = [];
for (const [label, src] of [
  ['base', resolve(args.base)],
  ['new', resolve(import.meta.dirname, '../src')],
] as const) {
  const mod = (await import(resolve(src, 'sim/mjcf.ts'))) as { buildCellXml: BuildXml };
  builders.push([label, mod.buildCellXml]);
}
const mj = await mujoco();
// Wrapping the module's mj_step records the states the cells pass through (the cells call it through the module).
const module = mj as unknown as { mj_step: (m: { geom_conaffinity: Int32Array }, d: { qpos: Float64Array }) => void };
const figures: Record<string, unknown> = { base: resolve(args.base) };
console.log(`collision alone, base = ${args.base}, new = this checkout; best of ${args.rounds} passes`);
for (const name of args.connectors) {
  const def = findConnector(loadConnectors(), name);
  const states: Float64Array[] = [];
  const filtered: Int32Array[] = [];
  const step = module.mj_step;
  let k = 0;
  module.mj_step = (m, d) => {
    // Recorded before the step: its collision runs at these joint positions, with this conaffinity.
    if (k++ % 5 === 0) {
      states.push(Float64Array.from(d.qpos));
      filtered.push(Int32Array.from(m.geom_conaffinity));
    }
    step.call(mj, m, d);
  };
  const cells = [await SimCell.create({ connector: def, imageSize: 0 }), await SimCell.create({ connector: def, imageSize: 0, goalBias: [0.002, 0, 0] })];
  try {
    for (let e = 0; e < args.episodes; e++) {
      const cell = cells[e % 2]!;
      let obs = cell.reset({ seed: e, scenario: 'I' });
      for (let i = 0; i < 20; i++) obs = cell.step(pControl(obs.eePos, obs.goal));
    }
  } finally {
    module.mj_step = step;
    for (const c of cells) c.dispose();
  }
  const models = [...builders, ['new+filter', builders[1]![1]] as const].map(([label, build]) => {
    // As the cells step it: without the arm's visual geoms (a wrist camera's cell).
    const model = compileXml(mj, build(def, { timestep: 0.001, armVisuals: false }).xml);
    return { label, model, data: new mj.MjData(model), best: Infinity, ncon: 0 };
  });
  for (let round = 0; round < args.rounds; round++) {
    for (const v of models) {
      const qpos = v.data.qpos as Float64Array;
      const aff = v.model.geom_conaffinity as Int32Array;
      const all = Int32Array.from(aff);
      let ncon = 0;
      const c0 = process.cpuUsage();
      for (let i = 0; i < states.length; i++) {
        if (v.label === 'new+filter') aff.set(filtered[i]!);
        qpos.set(states[i]!);
        mj.mj_kinematics(v.model, v.data);
        mj.mj_collision(v.model, v.data);
        ncon += v.data.ncon;
      }
      const c = process.cpuUsage(c0);
      aff.set(all);
      v.best = Math.min(v.best, (c.user + c.system) / states.length);
      v.ncon = ncon / states.length;
    }
  }
  const row = models.map((v) => ({ label: v.label, ngeom: v.model.ngeom, usPerState: v.best, contactsPerState: v.ncon }));
  console.log(
    `${name.padEnd(9)} ${states.length} states | ` +
      row.map((r) => `${r.label}: ${r.ngeom} geoms, ${r.usPerState.toFixed(2)} us, ${r.contactsPerState.toFixed(2)} contacts`).join(' | ') +
      ` | new/base ${(row[1]!.usPerState / row[0]!.usPerState).toFixed(3)}, new+filter/base ${(row[2]!.usPerState / row[0]!.usPerState).toFixed(3)}`,
  );
  figures[name] = { states: states.length, models: row };
  for (const v of models) {
    v.data.delete();
    v.model.delete();
  }
}
console.log(`wrote ${writeResults('sim-collision', figures)}`);
