/**
 * The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport (loopback-only by default).
 *   npx tsx src/cli/ros2-sim-robot.ts [--domain N] [--connector square16] [--image-size 64] [--sensor-hz 30] [--control-hz 10] [--camera 640x480]
 *                                     [--joint-states] [--camera-thread]
 * Prints one JSON line `{"ready":true,...}` when its publishers and subscriptions exist; stops on SIGINT/SIGTERM.
 * --joint-states: an arm that publishes sensor_msgs/JointState on /joint_states and no tip pose; the ready line then
 * carries `kinematics`, the chain for backend.ros2.kinematics (as a real arm's URDF would give it).
 * --camera-thread: the camera publishes from its own thread and DDS participant (src/ros2/sim-camera.ts), as a separate
 * camera node would, so the physics of each motion command does not hold frames back.
 */
import { parseArgs } from 'node:util';
import { SimBackend } from '../robot/sim-backend.ts';
import { DdsTransport } from '../ros2/dds-transport.ts';
import { SimRos2Robot, simArmChain, SIM_ROBOT_TOPICS } from '../ros2/sim-robot.ts';
import type { SimCameraData } from '../ros2/sim-camera.ts';
import type { RgbImage } from '../core/types.ts';
import { startWorker } from '../util/worker.ts';
import type { Worker } from 'node:worker_threads';

const { values } = parseArgs({
  options: {
    domain: { type: 'string' },
    connector: { type: 'string', default: 'square16' },
    'image-size': { type: 'string', default: '64' },
    'sensor-hz': { type: 'string', default: '30' },
    'control-hz': { type: 'string', default: '10' },
    camera: { type: 'string' },
    'joint-states': { type: 'boolean', default: false },
    'camera-thread': { type: 'boolean', default: false },
  },
});
const num = (k: keyof typeof values, min: number, max: number): number => {
  const v = Number(values[k]);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`sim-robot: --${k} must be a number in [${min}, ${max}], got ${values[k]}`);
  return v;
};
const controlHz = num('control-hz', 1, 1000);
const sim = await SimBackend.create({ connector: String(values.connector), cell: { imageSize: num('image-size', 8, 512), controlHz, nuisance: false } });
const transport = new DdsTransport(values.domain !== undefined ? { domainId: num('domain', 0, 232) } : {});
let camera: { width: number; height: number } | undefined;
if (values.camera !== undefined) {
  const m = /^(\d+)x(\d+)$/.exec(values.camera);
  if (!m) throw new Error(`sim-robot: --camera must be WIDTHxHEIGHT, got ${values.camera}`);
  camera = { width: Number(m[1]), height: Number(m[2]) };
}
const jointStates = values['joint-states'] === true;
const sensorHz = num('sensor-hz', 0, 1000);
let cameraThread: Worker | null = null;
if (values['camera-thread'] === true) {
  if (sensorHz <= 0) throw new Error('sim-robot: --camera-thread needs --sensor-hz > 0 (the camera rate)');
  const data: SimCameraData = { domainId: values.domain !== undefined ? num('domain', 0, 232) : null, topic: SIM_ROBOT_TOPICS.image, hz: sensorHz };
  cameraThread = startWorker(new URL('../ros2/sim-camera.ts', import.meta.url), data);
  cameraThread.on('error', (e) => {
    console.error(`sim-robot: camera thread failed: ${e.message}`);
    process.exit(1);
  });
}
const camThread = cameraThread;
const robot = new SimRos2Robot(transport, sim, {
  controlPeriod: 1 / controlHz,
  sensorHz,
  jointStates,
  ...(camera ? { camera } : {}),
  ...(camThread ? { onFrame: (img: RgbImage) => camThread.postMessage(img) } : {}),
});
console.log(
  JSON.stringify({
    ready: true,
    pid: process.pid,
    connector: sim.connector,
    cycloneUri: process.env.CYCLONEDDS_URI,
    ...(jointStates ? { kinematics: simArmChain(sim) } : {}),
  }),
);
const t0 = performance.now();
const stop = async (): Promise<void> => {
  const secs = (performance.now() - t0) / 1000;
  if (cameraThread) {
    const w = cameraThread;
    const done = new Promise<{ published: number }>((res) => w.once('message', res));
    w.postMessage({ stop: true });
    const timeout = new Promise<{ published: number }>((res) => setTimeout(() => res({ published: 0 }), 3000));
    robot.imagesPublished = (await Promise.race([done, timeout])).published;
    await w.terminate();
  }
  console.log(
    JSON.stringify({
      stopped: true,
      seconds: secs,
      imagesPublished: robot.imagesPublished,
      imageRateHz: robot.imagesPublished / secs,
      commands: robot.commands,
    }),
  );
  robot.close();
  await transport.close();
  sim.dispose();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
