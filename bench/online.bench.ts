/**
 * Learning on the job, measured: the daemon controlling at 10 Hz (real time) on the simulated cell with the background
 * trainer (child process, online IQL) attached and its exports hot-swapped in.
 *   phase 1 (--seconds, default 120): online updates/s, missed control ticks during training and swaps (target 0),
 *            time from a version's export (trainer message) to its being live (swap at the episode boundary), and the
 *            prepare part (load + validate).
 *   phase 2: RSS over --swaps (default 200) hot-swaps through the real path (PolicyModel.load -> validation on logged
 *            probes -> setPolicy between ticks -> dispose of the old session) while the loop free-runs.
 *
 *   npx tsx bench/online.bench.ts [--checkpoint data/runs/iql] [--offline-db data/prior.db] [--seconds 120] [--swaps 200]
 *                                 [--hidden 16,16 --z 4,4 (the tiny checkpoint's MLP widths and zI,zS sizes)] [--utd 4]
 *                                 [--critics 10 (the Q ensemble of the tiny checkpoint and of the trainer; target: min of a random 2)]
 *                                 [--gemm-precision fp32|bf16 (the trainer's GEMM inputs, learning.gemmPrecision)]
 * Without a checkpoint argument it trains a tiny one first (16 px, real MuJoCo data): figures then describe the
 * plumbing with small networks. The trainer child runs the same initBackend as this process: the engine printed
 * (wasm+openblas or wasm; INSERTION_GEMM=off forces wasm's own matMul) is the one it uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../src/config/load.ts';
import { startDaemonApp } from '../src/app/daemon-app.ts';
import { loadPolicyFile } from '../src/daemon/models.ts';
import { collectPrior } from '../src/data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS } from '../src/data/episode.ts';
import { makeSplit } from '../src/data/splits.ts';
import { loadConnectors } from '../src/sim/connectors.ts';
import { SimBackend } from '../src/robot/sim-backend.ts';
import { SwapManager } from '../src/swap/manager.ts';
import { DEFAULT_OFFLINE, trainOffline } from '../src/offline/iql.ts';
import { startLearning } from '../src/app/learning.ts';
import { DEFAULT_ONLINE, exportCheckpointPolicy } from '../src/online/trainer.ts';
import { splitFrom } from '../src/offline/common.ts';
import { benchArgs, ONLINE } from './commands.ts';
import { summarize, writeResults } from './lib.ts';
import os from 'node:os';
import { backendLabel, initBackend } from '../src/learn/backend.ts';

const root = resolve(import.meta.dirname, '..');
const args = benchArgs(ONLINE);
const seconds = args.seconds;
// Sizes of the tiny checkpoint's heads: --hidden 256,256 --z 32,16 gives the online case's MLPs (2x256 on 48-d features).
const tinyHidden = args.hidden;
const tinyZ = args.z;
const nSwaps = args.swaps;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tmp = mkdtempSync(join(tmpdir(), 'online-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

await initBackend(args.gemmPrecision ? { gemmPrecision: args.gemmPrecision } : {});
const engine = backendLabel();
const load0 = os.loadavg();
console.log(`engine: ${engine}\nload average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
let checkpoint = args.checkpoint;
let offlineDb = args.offlineDb ?? null;
let offlineDomains: string[] = [];
const connector = args.connector;
if (!checkpoint) {
  const db = join(tmp, 'prior.db');
  const train = ['hex14'];
  await collectPrior({
    db,
    connectors: train,
    controllers: ['expert'],
    scenarios: ['I', 'II'],
    episodesPerConnector: 2,
    seed: 5,
    workers: 0,
    settings: { ...DEFAULT_PRIOR_SETTINGS, imageSize: 64, episodeLength: 12, goalNoise: 0.002 },
  });
  const split = makeSplit({ description: 'bench', heldOut: [connector], train }, loadConnectors(), 'bench');
  checkpoint = join(tmp, 'ckpt');
  const run = await trainOffline({
    ...DEFAULT_OFFLINE,
    db,
    split,
    steps: 10,
    imageSize: 16,
    batchSize: 16,
    filters: [4, 4],
    zIDim: tinyZ[0],
    zSDim: tinyZ[1],
    hidden: tinyHidden,
    critics: args.critics,
    seed: 3,
    checkpointDir: checkpoint,
    checkpointEvery: 10,
    resume: false,
    logEvery: 1e9,
  });
  run.agent.dispose();
  offlineDb = db;
  offlineDomains = train;
} else if (offlineDb) {
  offlineDomains = splitFrom(undefined).train;
}
const policyPath = await exportCheckpointPolicy(checkpoint, join(tmp, 'offline-policy.onnx'));

async function app(realtime: boolean, dbName: string) {
  const db = join(tmp, dbName);
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), { port: 0, db, realtime, episodeSteps: 20, priority: null });
  config.backend.sim.connector = connector;
  const calibration = loadCalibration(join(root, 'calibration'));
  const sim = config.backend.sim;
  const backend = await SimBackend.create({
    connector,
    cell: {
      imageSize: sim.imageSize,
      camera: sim.camera,
      controlHz: config.tickHz,
      goalNoise: sim.goalNoise,
      startHeight: sim.startHeight,
      nuisance: sim.nuisance,
    },
  });
  const a = await startDaemonApp({
    config,
    calibration,
    token: null,
    backend,
    policy: await loadPolicyFile(policyPath),
    reward: null,
    listen: false,
    startLoop: true,
  });
  return { a, db, backend };
}

// ---------------------------------------------------------------- phase 1: 10 Hz with the trainer
const p1 = await app(true, 'p1.db');
const learning = startLearning(p1.a, {
  trainer: {
    ...DEFAULT_ONLINE,
    db: p1.db,
    offlineDb,
    offlineDomains,
    startCheckpoint: checkpoint,
    workDir: join(tmp, 'trainer'),
    exportEvery: args.exportEvery,
    utd: args.utd,
    warmupUpdates: 0,
    // The ensemble the trainer runs is this bench's, not the daemon's default (10): --critics 2 measures twin critics.
    critics: args.critics,
    targetCritics: 2,
    gemmPrecision: args.gemmPrecision,
  },
  swap: { validation: { probeCount: 16, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' } },
});
const exportToLive: number[] = [];
const prepare: number[] = [];
learning.supervisor.on('export', (info: { exportedAt: number }) => {
  const t = Date.now();
  const check = setInterval(() => {
    if (learning.swaps.stats.lastLiveMs !== null && p1.a.daemon.policyVersion && learning.view().swaps.swaps > exportToLive.length) {
      exportToLive.push(Date.now() - info.exportedAt);
      if (learning.swaps.stats.lastPrepareMs !== null) prepare.push(learning.swaps.stats.lastPrepareMs);
      clearInterval(check);
    } else if (Date.now() - t > 60_000) clearInterval(check);
  }, 5);
});
p1.a.daemon.startPractice({ count: 100000, scenario: 'II', explorationNoise: 0.003 });
// Wait for the trainer to be ready, then measure.
while (learning.supervisor.status().state !== 'running') await sleep(200);
// A copy: the threaded daemon's status may hand out the object it keeps updating.
const m0 = { ...p1.a.daemon.status().timing };
const u0 = learning.supervisor.status().updatesTotal;
const t0 = performance.now();
const benchCpu0 = process.cpuUsage();
while (performance.now() - t0 < seconds * 1000) await sleep(500);
const benchCpu = process.cpuUsage(benchCpu0);
const st = p1.a.daemon.status();
const updates = learning.supervisor.status().updatesTotal - u0;
console.log(
  `control ticks at start ${m0.controlTicks}, at end ${st.timing.controlTicks} (missed ${m0.missedControl} -> ${st.timing.missedControl}); daemon ${st.state}${st.safety.lastTrip ? `, last trip ${JSON.stringify(st.safety.lastTrip)}` : ''}`,
);
const wall = (performance.now() - t0) / 1000;
const phase1 = {
  seconds: wall,
  onlineUpdatesPerSec: updates / wall,
  trainerReportedUpdatesPerSec: learning.supervisor.status().progress?.updatesPerSec ?? null,
  trainerCpuMsPerUpdate: learning.supervisor.status().progress?.cpuMsPerUpdate ?? null,
  trainerCpuBreakdownMs: learning.supervisor.status().progress?.cpuBreakdown ?? null,
  // Cores this process used meanwhile (the daemon, its control thread and writer, the swaps' loading and validation):
  // what the trainer cannot have of the machine's two.
  daemonProcessCores: (benchCpu.user + benchCpu.system) / 1e6 / ((performance.now() - t0) / 1000),
  trainerEngine: learning.supervisor.status().progress?.engine ?? null,
  critics: args.critics,
  gemmPrecision: args.gemmPrecision,
  // Updates per control tick (= per new transition while practising): the update ratio sustained (null: no ticks).
  updateRatioSustained: st.timing.controlTicks > m0.controlTicks ? updates / (st.timing.controlTicks - m0.controlTicks) : null,
  // Not 'running' at the end (e.g. 'estopped' by its missed-tick guard on a starved machine): the figures above then
  // describe a trainer beside an idle daemon.
  daemonStateAtEnd: st.state,
  lastTrip: st.safety.lastTrip?.detail ?? null,
  owedAtEnd: learning.supervisor.status().progress?.owed ?? null,
  controlTicks: st.timing.controlTicks - m0.controlTicks,
  missedControlTicks: st.timing.missedControl - m0.missedControl,
  missedControlTicksBackend: st.timing.missedControlBackend - m0.missedControlBackend,
  swaps: learning.swaps.stats.swaps,
  rejected: learning.swaps.stats.rejected,
  exportToLiveMs: exportToLive.length ? summarize(exportToLive) : null,
  prepareMs: prepare.length ? summarize(prepare) : null,
  jitterMs: st.timing.jitterMs,
};
console.log('phase 1 (10 Hz + trainer):', JSON.stringify(phase1, null, 1));
p1.a.daemon.stopPractice();
await learning.close();
await p1.a.close();
p1.backend.dispose();

// ---------------------------------------------------------------- phase 2: RSS over many swaps
const p2 = await app(false, 'p2.db');
const files = [policyPath, await exportCheckpointPolicy(checkpoint, join(tmp, 'offline-policy-b.onnx'), 'policy-iql-offline-b')];
const mgr = new SwapManager(p2.a.daemon, p2.a.log.store, p2.a.log, {
  at: 'between-ticks',
  validation: { probeCount: 8, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' },
});
p2.a.daemon.startPractice({ count: 100000, scenario: 'II', explorationNoise: 0.003 });
await sleep(2000);
const rss: Array<{ swaps: number; rssMiB: number }> = [];
const gc = (globalThis as { gc?: () => void }).gc;
const liveTimes: number[] = [];
for (let i = 0; i <= nSwaps; i++) {
  if (i % 20 === 0) {
    gc?.();
    rss.push({ swaps: i, rssMiB: process.memoryUsage().rss / 2 ** 20 });
    console.log(`swap ${i}: RSS ${rss.at(-1)!.rssMiB.toFixed(1)} MiB`);
  }
  if (i === nSwaps) break;
  const out = await mgr.offer(files[i % 2] as string);
  if (!out.accepted) throw new Error(`swap ${i} rejected: ${out.reason}`);
  const ms = await out.live;
  if (ms !== null) liveTimes.push(ms);
}
const st2 = p2.a.daemon.status();
p2.a.daemon.stopPractice();
mgr.close();
await p2.a.close();
p2.backend.dispose();
const first = rss[1] ?? rss[0]!;
const last = rss.at(-1)!;
const phase2 = {
  swaps: nSwaps,
  rss,
  rssGrowthMiBAfterFirst20: last.rssMiB - first.rssMiB,
  rssGrowthKiBPerSwap: ((last.rssMiB - first.rssMiB) * 1024) / Math.max(1, last.swaps - first.swaps),
  offerToLiveMs: summarize(liveTimes),
  missedControlTicks: st2.timing.missedControl,
  note: 'free-running loop (realtime false); the figure that matters is the RSS trend',
};
console.log('phase 2 (RSS over swaps):', JSON.stringify({ ...phase2, rss: undefined }, null, 1));
const file = writeResults('online', { engine, loadAverageBefore: load0, loadAverageAfter: os.loadavg(), checkpoint, offlineDb, connector, phase1, phase2 });
console.log(`written ${file}`);
process.exit(0);
