/**
 * Evaluation throughput: wall time of one 20-step episode (reset + steps + controller) in the MuJoCo cell, with
 * and without camera rendering, and the cost of a scripted controller's act() alone.
 *
 *   npx tsx bench/eval.bench.ts
 */
import { createController, needsPrivileged } from '../src/control/registry.ts';
import { runEpisode } from '../src/eval/evaluate.ts';
import { SimCell } from '../src/sim/cell.ts';
import { findConnector, loadConnectors } from '../src/sim/connectors.ts';
import type { Observation, Vec3 } from '../src/core/types.ts';
import { Rng, deriveSeed } from '../src/util/rng.ts';
import { benchArgs, EVAL } from './commands.ts';
import { fmt, summarize, writeResults } from './lib.ts';

benchArgs(EVAL);
const CONNECTOR = 'megablock';
const EPISODES = 30;
const WARMUP = 5;

async function episodes(controller: string, imageSize: number): Promise<number[]> {
  const defs = loadConnectors();
  const cell = await SimCell.create({ connector: findConnector(defs, CONNECTOR), imageSize });
  const ctrl = createController(controller);
  const out: number[] = [];
  try {
    for (let i = 0; i < WARMUP + EPISODES; i++) {
      const t0 = performance.now();
      await runEpisode(cell, ctrl, {
        seed: deriveSeed(0, 'bench', i),
        scenario: 'II',
        controlSeed: i,
        episodeLength: 20,
        maxStep: 0.01,
        privileged: needsPrivileged(controller),
      });
      if (i >= WARMUP) out.push(performance.now() - t0);
    }
  } finally {
    cell.dispose();
  }
  return out;
}

function actCost(controller: string): number[] {
  const ctrl = createController(controller);
  const r = new Rng(1);
  const socket: Vec3 = [0.6, 0.1, 0.05];
  const ctx = { step: 0, episodeLength: 20, maxStep: 0.01, rng: new Rng(2), privileged: { socketPos: socket } };
  const obs = (): Observation => ({
    image: { width: 0, height: 0, data: new Uint8Array(0) },
    wrench: [0, 0, r.uniform(0, 20), 0, 0, 0],
    eePos: [0.6 + r.uniform(-0.01, 0.01), 0.1 + r.uniform(-0.01, 0.01), 0.05 + r.uniform(0, 0.03)],
    eeQuat: [1, 0, 0, 0],
    goal: socket,
    imageStamp: 0,
    wrenchStamp: 0,
  });
  const out: number[] = [];
  for (let rep = 0; rep < 200; rep++) {
    ctrl.reset(ctx);
    const t0 = performance.now();
    for (let k = 0; k < 20; k++) {
      ctx.step = k;
      void ctrl.act(obs(), ctx); // the controllers timed here act synchronously
    }
    out.push(((performance.now() - t0) / 20) * 1000); // microseconds per act
  }
  return out.slice(50);
}

const figures: Record<string, unknown> = { connector: CONNECTOR, episodes: EPISODES, episodeLength: 20 };
for (const [controller, imageSize] of [
  ['straight', 0],
  ['loc-spiral', 0],
  ['p', 0],
  ['p', 64],
] as const) {
  const s = summarize(await episodes(controller, imageSize));
  figures[`episode_ms_${controller}_img${imageSize}`] = s;
  console.log(`episode ${controller.padEnd(10)} image ${String(imageSize).padStart(2)}px: median ${fmt(s.median, 1)}, p99 ${fmt(s.p99, 1)}`);
}
for (const c of ['p', 'expert', 'spiral', 'loc-random']) {
  const s = summarize(actCost(c));
  figures[`act_us_${c}`] = s;
  console.log(`act() ${c.padEnd(10)}: median ${s.median.toFixed(2)} us, p99 ${s.p99.toFixed(2)} us`);
}
console.log(`written ${writeResults('eval', figures)}`);
