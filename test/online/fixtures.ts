/** A tiny real offline IQL checkpoint (real MuJoCo prior data, real tfjs training) for the trainer tests. */
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import * as tf from '@tensorflow/tfjs';
import { netVariables } from '../../src/learn/nets.ts';
import { trainOffline } from '../../src/offline/iql.ts';
import { DEFAULT_ONLINE, exportCheckpointPolicy, OnlineTrainer, type OnlineTrainerConfig } from '../../src/online/trainer.ts';
import { tinyDb, tinyOfflineOptions, TRAIN, type TinyDb } from '../offline/fixtures.ts';
import { policyFromModel } from '../../src/daemon/models.ts';
import { PolicyModel } from '../../src/policy/onnx-model.ts';
import { inputsFor } from '../../src/swap/validate.ts';
import type { Observation } from '../../src/core/types.ts';

export interface TinyOffline extends TinyDb {
  checkpoint: string;
  domains: string[];
}

export async function tinyOffline(prefix: string, steps = 10): Promise<TinyOffline> {
  await initBackend();
  const domains = [TRAIN[0] as string];
  const fx = await tinyDb(prefix, 2, domains);
  const checkpoint = join(fx.dir, 'offline-ckpt');
  const run = await trainOffline(tinyOfflineOptions(fx, checkpoint, { steps }));
  run.agent.dispose();
  return { ...fx, checkpoint, domains };
}

/**
 * The start of the learning tests: a 5-update offline checkpoint (64-unit heads) with its policy head zeroed, so the
 * residual is exactly 0 and the policy is the P-controller; the checkpoint and its exported policy.
 */
export async function zeroResidualStart(fx: Pick<TinyDb, 'db' | 'split' | 'dir'>): Promise<{ checkpoint: string; policyPath: string }> {
  const checkpoint = join(fx.dir, 'zero-residual');
  const run = await trainOffline(tinyOfflineOptions(fx, checkpoint, { hidden: [64, 64] }));
  for (const v of netVariables(run.agent.pi).slice(-2)) v.assign(tf.zerosLike(v)); // residual = 0: the P-controller
  await run.agent.saveCheckpoint(checkpoint);
  run.agent.dispose();
  return { checkpoint, policyPath: await exportCheckpointPolicy(checkpoint, join(fx.dir, 'zero-policy.onnx')) };
}

/** A trainer on a rig's practice log, from `checkpoint`: practice data only (no prior data) unless `o` says otherwise. */
export function practiceTrainer(db: string, checkpoint: string, workDir: string, o: Partial<OnlineTrainerConfig> = {}): OnlineTrainer {
  return new OnlineTrainer({ ...DEFAULT_ONLINE, db, offlineDb: null, offlineDomains: [], startCheckpoint: checkpoint, workDir, onlineFraction: 1, ...o });
}

/** The largest difference of any action component between two exported policies over the probes (m). */
export async function maxActionDiff(a: string, b: string, probes: readonly Observation[]): Promise<number> {
  const [pa, pb] = [policyFromModel(await PolicyModel.load(a)), policyFromModel(await PolicyModel.load(b))];
  let m = 0;
  for (const o of probes) {
    const [ya, yb] = [await pa.run(inputsFor(pa, o).image, inputsFor(pa, o).proprio), await pb.run(inputsFor(pb, o).image, inputsFor(pb, o).proprio)];
    for (let k = 0; k < 3; k++) m = Math.max(m, Math.abs((ya[k] as number) - (yb[k] as number)));
  }
  await pa.dispose?.();
  await pb.dispose?.();
  return m;
}
