/**
 * Replay speed: simulated control steps per second when a logged session is replayed in the cell through the daemon,
 * open loop and closed loop (P-controller alone; the shipped ONNX policy with the shipped reward classifier scoring
 * every frame). Seconds include each episode's reset. Then how long the shadow swap gate takes on that session (the
 * shipped policy as candidate vs the P-controller). `npx tsx bench/replay.bench.ts [--episodes N] [--steps N]` (default 10 x 20).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../src/config/load.ts';
import { startDaemonApp } from '../src/app/daemon-app.ts';
import { runReplay, type ReplayOptions } from '../src/replay/run.ts';
import { shadowGate } from '../src/replay/shadow.ts';
import { SimBackend } from '../src/robot/sim-backend.ts';
import { benchArgs, REPLAY } from './commands.ts';
import { writeResults } from './lib.ts';

const { episodes, steps } = benchArgs(REPLAY);
const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'replay-bench-'));
try {
  // A session logged by the daemon on the simulated cell: P-controller + a small scripted residual, exploration noise.
  const db = join(dir, 'log.db');
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db,
    realtime: false,
    episodeSteps: steps,
    priority: null,
    modelsDir: join(dir, 'none'),
  });
  const calibration = loadCalibration(join(root, 'calibration'));
  const sim = await SimBackend.create({
    connector: config.backend.sim.connector,
    cell: { imageSize: 64, controlHz: config.tickHz, startHeight: config.backend.sim.startHeight, nuisance: true },
  });
  const policy = { version: 'scripted@1', input: { image: null, proprio: null }, run: async () => [0.001, -0.001, 0] as [number, number, number] };
  const app = await startDaemonApp({ config, calibration, token: null, backend: sim, policy, reward: null, listen: false, startLoop: false });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  app.daemon.startPractice({ count: episodes, scenario: 'II', explorationNoise: 0.001 });
  while (app.daemon.currentState !== 'idle' || app.daemon.status().practice !== null) {
    await app.daemon.settle();
    await app.daemon.tick();
  }
  const logSeconds = (performance.now() - t0) / 1000;
  const logCpu = process.cpuUsage(cpu0);
  const logCpuSeconds = (logCpu.user + logCpu.system) / 1e6;
  const sessionId = app.log.sessionId;
  await app.close();
  sim.dispose();

  const figures: Record<string, unknown> = {
    episodes,
    steps,
    connector: config.backend.sim.connector,
    imageSize: 64,
    loggingDaemonStepsPerSecond: (episodes * steps) / logSeconds,
    loggingDaemonStepsPerCpuSecond: (episodes * steps) / logCpuSeconds,
  };
  const runs: Array<[string, Omit<ReplayOptions, 'db' | 'sessionId'>]> = [
    ['openLoop', { mode: 'open-loop' }],
    ['closedLoopPOnly', { mode: 'closed-loop', policy: 'p-only' }],
    ['closedLoopOnnxPolicyAndReward', { mode: 'closed-loop', policy: join(root, 'models/policy.onnx'), reward: join(root, 'models/reward.onnx') }],
  ];
  await runReplay({ db, sessionId, mode: 'open-loop', episodes: episodes > 1 ? [1, 2] : [1], outDb: join(dir, 'warmup.db') }); // wasm and JIT warm-up, untimed
  for (const [name, o] of runs) {
    const r = await runReplay({ db, sessionId, ...o });
    figures[name] = { ...r.speed, sameOutcome: r.overall.sameOutcome, episodes: r.overall.episodes, maxPoseMm: r.overall.maxPoseMm };
    console.log(
      `${name}: ${r.speed.controlSteps} steps in ${r.speed.seconds.toFixed(2)} s = ${r.speed.stepsPerSecond.toFixed(0)} simulated steps/s wall, ${r.speed.stepsPerCpuSecond.toFixed(0)} per CPU second (same outcome ${r.overall.sameOutcome}/${r.overall.episodes})`,
    );
  }
  // The shadow swap gate on the same session: the shipped policy as the candidate, the P-controller driving.
  const gate = await shadowGate({ db, candidate: join(root, 'models/policy.onnx'), current: 'p-only', cfg: { episodes, margin: 0.1 } });
  figures.shadowGate = { ms: gate.ms, ok: gate.ok, episodes: gate.episodes, candidate: gate.candidate, current: gate.current, reason: gate.reason };
  console.log(`shadow gate over ${gate.episodes} starts x ${steps} steps: ${(gate.ms / 1000).toFixed(1)} s (${gate.reason})`);
  console.log(
    `logging daemon (free-running, same cell): ${((episodes * steps) / logSeconds).toFixed(0)} steps/s wall, ${((episodes * steps) / logCpuSeconds).toFixed(0)} per CPU second`,
  );
  console.log(`written to ${writeResults('replay', figures)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
