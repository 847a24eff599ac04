// Scratch: ground-truth success of every export of one run (scenario II, the experiment's eval starts).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../../src/config/load.ts';
import { startDaemonApp, type DaemonApp } from '../../src/app/daemon-app.ts';
import { simCellOptions, SimBackend } from '../../src/robot/sim-backend.ts';
import { loadPolicyFile } from '../../src/daemon/models.ts';
import { goalErrorVec } from '../../src/core/goal-error.ts';

const [runDir, connector, seedS, everyS] = process.argv.slice(2) as [string, string, string, string];
const seed = Number(seedS);
const every = Number(everyS ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitIdle(app: DaemonApp) {
  while (app.daemon.status().practice !== null || app.daemon.currentState !== 'idle') await sleep(20);
}
async function evalRun(app: DaemonApp, count: number, s: number): Promise<number> {
  const before = new Set(app.log.store.listEpisodes({ limit: 1_000_000 }).map((e) => e.id));
  app.daemon.startPractice({ count, scenario: 'II', kind: 'eval', explorationNoise: 0, seed: s });
  await waitIdle(app);
  await app.log.flush();
  return app.log.store.listEpisodes({ kind: 'eval', limit: 1_000_000 }).filter((e) => !before.has(e.id) && e.gtSuccess === true).length;
}
const db = `/tmp/dense-${process.pid}.db`;
const config = loadDaemonConfig('config/daemon.yaml', { port: 0, db, realtime: false, episodeSteps: 20, priority: null });
config.backend.sim.connector = connector;
const calibration = loadCalibration(config.calibrationDir);
const v = goalErrorVec(1.5);
calibration.socket.offset = [v[0], v[1], v[2]];
const backend = await SimBackend.create({ connector, cell: simCellOptions(config) });
const p0 = await loadPolicyFile('models/policy.onnx');
const app = await startDaemonApp({ config, calibration, token: null, backend, policy: p0, reward: null, listen: false, startLoop: true });
const models = join(runDir, connector, 'trainer', 'models');
const files = readdirSync(models).filter((f) => f.endsWith('.onnx')).sort();
console.log(`offline ${await evalRun(app, 20, seed * 1000 + 17)}`);
for (const [i, f] of files.entries()) {
  if (i % every !== 0) continue;
  const p = await loadPolicyFile(join(models, f));
  await app.daemon.setPolicy(p, { at: 'between-ticks' });
  const n = await evalRun(app, 20, seed * 1000 + 17);
  console.log(`${f} ${n}`);
}
process.exit(0);
