/**
 * The ROS path over DDS on loopback: the simulated robot in its own process streams a 640x480 rgb8 camera at 30 Hz
 * (plus wrench and pose), the daemon practises on it at 10 Hz through the ros2 backend. Figures:
 *   - received image rate at the daemon while it controls at 10 Hz (target: 30/s);
 *   - missed control ticks while images stream (target 0);
 *   - latency from the robot's e-stop message arriving to the daemon's last motion command (target: none after it);
 *   - practice episodes per hour through the ROS path, beside the in-process simulator (same episode length).
 *   npx tsx bench/ros2.bench.ts [--seconds 30]       (about seconds x 2 + 15 s in all)
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { ddsAvailable, DdsTransport, LOOPBACK_CONFIG } from '../src/ros2/dds-transport.ts';
import { Ros2Backend, DEFAULT_ROS2_CONFIG } from '../src/ros2/backend.ts';
import { loadCalibration, loadDaemonConfig } from '../src/config/load.ts';
import { startDaemonApp } from '../src/app/daemon-app.ts';
import { SimBackend } from '../src/robot/sim-backend.ts';
import type { RobotBackend } from '../src/robot/backend.ts';
import { writeResults } from './lib.ts';
import { mkdtempSync, rmSync } from 'node:fs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' } } });
const seconds = Number(values.seconds);
const root = resolve(import.meta.dirname, '..');
const avail = ddsAvailable();
if (!avail.ok) {
  console.error(avail.reason);
  process.exit(1);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const domain = 100 + Math.floor(Math.random() * 100);
const dir = mkdtempSync(join(os.tmpdir(), 'ros2-bench-'));

async function practise(
  backend: RobotBackend,
  label: string,
  secs: number,
): Promise<{ episodes: number; perHour: number; missedControl: number; controlTicks: number }> {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db: join(dir, `${label}.db`),
    realtime: true,
    episodeSteps: 20,
    modelsDir: join(dir, 'models'),
    priority: null,
  });
  config.practice.explorationNoise = 0;
  const app = await startDaemonApp({
    config,
    calibration: loadCalibration(join(root, 'calibration')),
    token: 'bench',
    backend,
    policy: null,
    reward: null,
    listen: false,
    startLoop: true,
  });
  let episodes = 0;
  app.daemon.on('episode', () => episodes++);
  const t0 = performance.now();
  app.daemon.startPractice({ count: 100000, scenario: 'II' });
  await sleep(secs * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const timing = app.daemon.status().timing;
  app.daemon.stopPractice();
  await app.close();
  return { episodes, perHour: (episodes / elapsed) * 3600, missedControl: timing.missedControl, controlTicks: timing.controlTicks };
}

// Phase 0, the transport alone: a camera process publishes 640x480 rgb8 at 30 Hz; the ros2 backend here receives it.
const camDomain = domain === 199 ? 100 : domain + 1;
const camTransport = new DdsTransport({ domainId: camDomain });
const camBackend = new Ros2Backend(camTransport, { ...structuredClone(DEFAULT_ROS2_CONFIG), goal: [0.5, 0, 0.1] });
const cam = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/ros2-camera.ts'), '--domain', String(camDomain), '--seconds', '10'], {
  cwd: root,
  env: { ...process.env, CYCLONEDDS_URI: `file://${LOOPBACK_CONFIG}` },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let camOut = '';
cam.stdout.on('data', (d: Buffer) => (camOut += d.toString()));
// The backend converts each frame it observes, as the daemon's tick would at 10 Hz.
const observer = setInterval(() => camBackend.observe(), 100);
await new Promise<void>((res) => cam.on('exit', () => res()));
clearInterval(observer);
await sleep(200);
const camPublished = JSON.parse(camOut.trim().split('\n').at(-1) ?? '{}') as { published?: number; seconds?: number };
const camReceived = camBackend.topicStats()[0]?.count ?? 0;
camBackend.dispose();
await camTransport.close();

const proc = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'src/cli/ros2-sim-robot.ts'), '--domain', String(domain), '--sensor-hz', '30', '--camera', '640x480'],
  {
    cwd: root,
    env: { ...process.env, CYCLONEDDS_URI: `file://${LOOPBACK_CONFIG}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let robotOut = '';
proc.stdout.on('data', (d: Buffer) => (robotOut += d.toString()));
const robotExit = new Promise<void>((res) => proc.on('exit', () => res()));
await new Promise<void>((res, rej) => {
  proc.stdout.on('data', () => robotOut.includes('"ready":true') && res());
  proc.on('exit', (c) => rej(new Error(`sim robot exited ${c}`)));
});
const transport = new DdsTransport({ domainId: domain });
const cfg = structuredClone(DEFAULT_ROS2_CONFIG);
cfg.topics.socketPose = '/sim/socket_pose';
cfg.rateWindow = 5;
const backend = new Ros2Backend(transport, cfg);
// Motion commands as the backend publishes them, and when the robot's e-stop arrived.
const motion: number[] = [];
const origCommand = backend.command.bind(backend);
backend.command = (d) => {
  const before = backend.commandsPublished;
  origCommand(d);
  if (backend.commandsPublished > before && Math.hypot(...d) > 0) motion.push(performance.now());
};
let estopAt = -1;
backend.onEstop((s) => s.engaged && estopAt < 0 && (estopAt = performance.now()));
for (let i = 0; i < 400 && !(Number.isFinite(backend.observe().goal[0]) && backend.clock() - backend.observe().imageStamp < 0.2); i++) await sleep(50);

const rates: number[] = [];
const sampler = setInterval(() => rates.push(backend.topicStats().find((s) => s.topic === '/camera/image_raw')?.rateHz ?? 0), 1000);
const ros = await practise(backend, 'ros2', seconds);
clearInterval(sampler);
const imageStat = backend.topicStats().find((s) => s.topic === '/camera/image_raw');

// e-stop latency: practise again, press the robot's button through its service, look for motion after it arrived.
const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
  port: 0,
  db: join(dir, 'estop.db'),
  realtime: true,
  episodeSteps: 20,
  modelsDir: join(dir, 'models'),
  priority: null,
});
const app = await startDaemonApp({
  config,
  calibration: loadCalibration(join(root, 'calibration')),
  token: 'bench',
  backend,
  policy: null,
  reward: null,
  listen: false,
  startLoop: true,
});
const estopTrials: { lastMotionAfterMs: number | null; motionAfter: number }[] = [];
const press = transport.createClient('/sim/estop_press', 'std_srvs/srv/Trigger');
const release = transport.createClient('/sim/estop_release', 'std_srvs/srv/Trigger');
for (let trial = 0; trial < 5; trial++) {
  app.daemon.startPractice({ count: 1000, scenario: 'II' });
  for (let i = 0; i < 200 && app.daemon.currentState !== 'running'; i++) await sleep(20);
  await sleep(350 + trial * 37); // land the press at different phases of the tick
  estopAt = -1;
  await press.call({ structure_needs_at_least_one_member: 0 });
  await sleep(600);
  const after = motion.filter((t) => estopAt > 0 && t > estopAt);
  estopTrials.push({ lastMotionAfterMs: after.length ? (after.at(-1) as number) - estopAt : null, motionAfter: after.length });
  await release.call({ structure_needs_at_least_one_member: 0 });
  for (let i = 0; i < 100 && backend.estopEngaged().engaged; i++) await sleep(20);
  app.daemon.resetEstop();
  app.daemon.stopPractice();
  await sleep(200);
}
await app.close();
backend.dispose();
await transport.close();
proc.kill('SIGTERM');
await robotExit;
const robotStats = JSON.parse(robotOut.split('\n').find((l) => l.includes('"stopped":true')) ?? '{}') as {
  imagesPublished?: number;
  imageRateHz?: number;
  seconds?: number;
};

const sim = await SimBackend.create({ connector: 'square16', cell: { imageSize: 64, controlHz: 10, nuisance: false } });
const inproc = await practise(sim, 'sim', seconds);
sim.dispose();
rmSync(dir, { recursive: true, force: true });

const steady = rates.slice(2);
const figures = {
  seconds,
  transportOnly: {
    published: camPublished.published,
    seconds: camPublished.seconds,
    received: camReceived,
    publishedHz: (camPublished.published ?? 0) / (camPublished.seconds ?? 1),
    receivedHz: camReceived / (camPublished.seconds ?? 1),
  },
  imageStream: '640x480 rgb8 at 30 Hz from the sim robot process',
  imageRateHz: {
    mean: steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length),
    min: Math.min(...steady),
    samples: steady.map((r) => Math.round(r * 10) / 10),
  },
  imagesReceived: imageStat?.count,
  robot: robotStats,
  missedControlTicks: { ros2: ros.missedControl, of: ros.controlTicks },
  estop: estopTrials,
  episodesPerHour: { ros2: Math.round(ros.perHour), inProcessSim: Math.round(inproc.perHour), ros2Episodes: ros.episodes, simEpisodes: inproc.episodes },
  missedControlTicksInProcess: { sim: inproc.missedControl, of: inproc.controlTicks },
  loadavg: os.loadavg(),
};
console.log(JSON.stringify(figures, null, 2));
console.log(`results: ${writeResults('ros2', figures)}`);
process.exit(0);
