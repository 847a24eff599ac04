/**
 * A real daemon log for the export/import tests: the daemon on the simulated cell (real MuJoCo, real SQLite file),
 * the shipped reward classifier through onnxruntime (so reward probabilities are real numbers), and a scripted
 * residual (so P, residual and executed actions differ). Built once per test file.
 */
import { join } from 'node:path';
import { rewardFromModel } from '../../src/daemon/models.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { logged, rig, root, scriptedPolicy, tickUntil } from '../daemon/helpers.ts';

export interface LoggedSession {
  /** The daemon's database (closed when loggedSession returns). */
  db: string;
  sessionId: number;
  episodes: number;
  steps: number;
}

/** Runs `episodes` practice episodes of `steps` ticks and logs into `dir`/log.db. */
export async function loggedSession(dir: string, o: { episodes?: number; steps?: number; domain?: string } = {}): Promise<LoggedSession> {
  const episodes = o.episodes ?? 3;
  const steps = o.steps ?? 6;
  const db = join(dir, 'log.db');
  const reward = await RewardModel.load(join(root, 'models/reward.onnx'));
  const r = await rig({
    reward: rewardFromModel(reward),
    policy: scriptedPolicy('scripted@1', (c) => [0.0002 * Math.sin(c), -0.0001 * Math.cos(c), 0.00005]),
    // The log goes to the caller's directory, so it outlives the rig (whose close ends the session and the file).
    overrides: { episodeSteps: steps, db },
    ...(o.domain ? { connector: o.domain } : {}),
  });
  try {
    const d = r.app.daemon;
    const started = d.startPractice({ count: episodes, scenario: 'II', seed: 7 });
    if (!started.ok) throw new Error(`practice did not start: ${JSON.stringify(started)}`);
    await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40 * episodes * steps);
    await logged(r);
    const sessionId = r.app.log.store.listSessions()[0]!.id;
    return { db, sessionId, episodes, steps };
  } finally {
    await r.close();
  }
}
