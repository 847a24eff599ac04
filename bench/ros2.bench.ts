/**
 * The ROS path over DDS on loopback: the simulated robot in its own process streams a 640x480 rgb8 camera at 30 Hz
 * (plus wrench and pose), the daemon practises on it at 10 Hz through the ros2 backend. Figures:
 *   - received image rate at the daemon while it controls at 10 Hz (target: 30/s);
 *   - missed control ticks while images stream (target 0);
 *   - latency from the robot's e-stop message arriving to the daemon's last motion command (target: none after it);
 *   - practice episodes per hour through the ROS path, beside the simulator inside the daemon (same episode length).
 * The daemon runs as `npm start` runs it: the ROS 2 node (DDS participant, backend, services) in the control thread
 * (src/daemon/thread-host.ts); --in-process puts the backend and the loop on the main thread instead, as before.
 * Motion commands and the robot's e-stop are timed by an observer on the graph (this thread, otherwise idle).
 *   npx tsx bench/ros2.bench.ts [--seconds 30] [--in-process]      (about seconds x 2 + 25 s in all)
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { ddsAvailable, DdsTransport, LOOPBACK_CONFIG } from '../src/ros2/dds-transport.ts';
import { Ros2Backend, DEFAULT_ROS2_CONFIG } from '../src/ros2/backend.ts';
import { createRos2Backend, parseRos2Section } from '../src/ros2/config.ts';
import { DaemonRosNode } from '../src/ros2/node.ts';
import { QOS_DEFAULT, type QosProfile } from '../src/ros2/transport.ts';
import type { TopicStat } from '../src/ros2/backend.ts';
import { loadCalibration, loadDaemonConfig } from '../src/config/load.ts';
import { startDaemonApp, type DaemonApp, type DaemonAppOptions } from '../src/app/daemon-app.ts';
import type { RunningDaemon } from '../src/daemon/types.ts';
import { benchArgs, ROS2 } from './commands.ts';
import { writeResults } from './lib.ts';
import { mkdtempSync, rmSync } from 'node:fs';

const { seconds, inProcess } = benchArgs(ROS2);
const root = resolve(import.meta.dirname, '..');
const avail = ddsAvailable();
if (!avail.ok) {
  console.error(avail.reason);
  process.exit(1);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const domain = 100 + Math.floor(Math.random() * 100);
const dir = mkdtempSync(join(os.tmpdir(), 'ros2-bench-'));

/** A daemon app as npm start makes it: the ros2 node in the control thread (or, --in-process, on this thread). */
async function startApp(label: string, robot: 'ros2' | 'sim'): Promise<{ app: DaemonApp<RunningDaemon>; close(): Promise<void> }> {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db: join(dir, `${label}.db`),
    realtime: true,
    episodeSteps: 20,
    modelsDir: join(dir, 'models'),
    priority: null,
  });
  config.practice.explorationNoise = 0;
  const base: DaemonAppOptions = { config, calibration: loadCalibration(join(root, 'calibration')), token: 'bench', policy: null, reward: null, listen: false };
  if (robot === 'sim') {
    config.controlThread = !inProcess;
    const app = await startDaemonApp(base);
    return { app, close: () => app.close() };
  }
  // The daemon's own ros2 settings: 2 Hz topic rates in /status (what this bench samples), a 5 s rate window.
  const section = parseRos2Section({ domainId: domain, topics: { socketPose: '/sim/socket_pose' }, rateWindow: 5, node: { diagnosticsHz: 2 } }, 'bench');
  const nodeOptions = { ...section.node, practiceCount: 1, staleAfter: 0.5 };
  if (!inProcess) {
    const app = await startDaemonApp({ ...base, threadBackend: { kind: 'ros2', section, goal: null, node: nodeOptions } });
    return { app, close: () => app.close() };
  }
  const made = await createRos2Backend(section, { tickHz: config.tickHz, goal: null });
  const app = await startDaemonApp({ ...base, backend: made.backend });
  const node = new DaemonRosNode(made.transport, app.daemon, made.backend, nodeOptions);
  return {
    app,
    close: async () => {
      await app.close();
      node.close();
      made.backend.dispose();
      await made.transport.close();
    },
  };
}

async function practise(
  a: { app: DaemonApp<RunningDaemon> },
  secs: number,
  onSecond: () => void = () => undefined,
): Promise<{ episodes: number; perHour: number; missedControl: number; controlTicks: number }> {
  const d = a.app.daemon;
  for (let i = 0; i < 400 && d.status().safety.estop.engaged; i++) await sleep(50);
  let episodes = 0;
  d.on('episode', () => episodes++);
  const t0 = performance.now();
  d.startPractice({ count: 100000, scenario: 'II' });
  const sampler = setInterval(onSecond, 1000);
  await sleep(secs * 1000);
  clearInterval(sampler);
  const elapsed = (performance.now() - t0) / 1000;
  const timing = d.status().timing;
  d.stopPractice();
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
  ['--import', 'tsx', join(root, 'src/cli/ros2-sim-robot.ts'), '--domain', String(domain), '--sensor-hz', '30', '--camera', '640x480', '--camera-thread'],
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
// An observer on the graph, as `ros2 topic echo` would be: every motion command (header stamp = when the daemon
// published it, wall clock) and when the robot's e-stop message arrived here.
const transport = new DdsTransport({ domainId: domain });
const KEEP: QosProfile = { reliability: 'reliable', durability: 'volatile', depth: 200 };
const motion: number[] = [];
transport.subscribe('/insertion/cmd_twist', 'geometry_msgs/msg/TwistStamped', KEEP, (m) => {
  if (Math.hypot(m.twist.linear.x, m.twist.linear.y, m.twist.linear.z) > 0) motion.push(m.header.stamp.sec * 1000 + m.header.stamp.nanosec / 1e6);
});
let estopAt = -1;
transport.subscribe('/estop', 'std_msgs/msg/Bool', QOS_DEFAULT, (m) => {
  if (m.data && estopAt < 0) estopAt = Date.now();
});

const ros2App = await startApp('ros2', 'ros2');
const imageStat = (): TopicStat | undefined => {
  const extra = ros2App.app.daemon.status().extra as { ros2?: { topics: TopicStat[] } };
  return extra.ros2?.topics.find((t) => t.topic === '/camera/image_raw');
};
for (let i = 0; i < 400 && !((imageStat()?.age ?? Infinity) < 0.2 && ros2App.app.daemon.status().safety.estop.engaged === false); i++) await sleep(50);
const rates: number[] = [];
const ros = await practise(ros2App, seconds, () => rates.push(imageStat()?.rateHz ?? 0));
const imagesReceived = imageStat()?.count;

// e-stop latency: practise again, press the robot's button through its service, look for motion after it arrived.
const d = ros2App.app.daemon;
const estopTrials: { lastMotionAfterMs: number | null; motionAfter: number }[] = [];
const press = transport.createClient('/sim/estop_press', 'std_srvs/srv/Trigger');
const release = transport.createClient('/sim/estop_release', 'std_srvs/srv/Trigger');
for (let i = 0; i < 100 && d.currentState !== 'idle'; i++) await sleep(50);
for (let trial = 0; trial < 5; trial++) {
  d.startPractice({ count: 1000, scenario: 'II' });
  for (let i = 0; i < 200 && d.currentState !== 'running'; i++) await sleep(20);
  await sleep(350 + trial * 37); // land the press at different phases of the tick
  estopAt = -1;
  await press.call({ structure_needs_at_least_one_member: 0 });
  await sleep(600);
  const after = motion.filter((t) => estopAt > 0 && t > estopAt);
  estopTrials.push({ lastMotionAfterMs: after.length ? (after.at(-1) as number) - estopAt : null, motionAfter: after.length });
  await release.call({ structure_needs_at_least_one_member: 0 });
  for (let i = 0; i < 100 && d.status().safety.backendEstop.engaged; i++) await sleep(20);
  d.resetEstop();
  d.stopPractice();
  for (let i = 0; i < 100 && d.currentState !== 'idle'; i++) await sleep(20);
}
await ros2App.close();
await transport.close();
proc.kill('SIGTERM');
await robotExit;
const robotStats = JSON.parse(robotOut.split('\n').find((l) => l.includes('"stopped":true')) ?? '{}') as {
  imagesPublished?: number;
  imageRateHz?: number;
  seconds?: number;
};

const simApp = await startApp('sim', 'sim');
const inproc = await practise(simApp, seconds);
await simApp.close();
rmSync(dir, { recursive: true, force: true });

const steady = rates.slice(5); // the 5 s rate window filled
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
  imagesReceived,
  robot: robotStats,
  loop: inProcess ? 'in process (main thread)' : 'control thread',
  missedControlTicks: { ros2: ros.missedControl, of: ros.controlTicks },
  estop: estopTrials,
  episodesPerHour: { ros2: Math.round(ros.perHour), simInDaemon: Math.round(inproc.perHour), ros2Episodes: ros.episodes, simEpisodes: inproc.episodes },
  missedControlTicksSim: { sim: inproc.missedControl, of: inproc.controlTicks },
  loadavg: os.loadavg(),
};
console.log(JSON.stringify(figures, null, 2));
console.log(`results: ${writeResults(inProcess ? 'ros2-in-process' : 'ros2', figures)}`);
process.exit(0);
