/**
 * The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport (loopback-only by default).
 *   npx tsx src/cli/ros2-sim-robot.ts [--domain N] [--connector square16] [--image-size 64] [--sensor-hz 30] [--control-hz 10] [--camera 640x480]
 *                                     [--joint-states] [--camera-thread] [--depth] (--help lists them)
 * Prints one JSON line `{"ready":true,...}` when its publishers and subscriptions exist; stops on SIGINT/SIGTERM.
 * --joint-states: an arm that publishes sensor_msgs/JointState on /joint_states and no tip pose; the ready line then
 * carries `kinematics`, the chain for backend.ros2.kinematics (as a real arm's URDF would give it).
 * --camera-thread: the camera publishes from its own thread and DDS participant (src/ros2/sim-camera.ts), as a separate
 * camera node would, so the physics of each motion command does not hold frames back.
 * --depth: an RGB-D wrist camera (the simulator's D405-like depth, src/sim/depth.ts): its depth image aligned to colour
 * goes out on /camera/aligned_depth_to_color/image_raw (32FC1 m), for a ROS backend with topics.depth and a depth reward.
 */
import { command, fromArgv, optionalText, T, UsageError } from './flags.ts';
import { SimBackend } from '../robot/sim-backend.ts';
import { DdsTransport } from '../ros2/dds-transport.ts';
import { SimRos2Robot, simArmChain, SIM_ROBOT_TOPICS } from '../ros2/sim-robot.ts';
import type { SimCameraData } from '../ros2/sim-camera.ts';
import type { RgbImage } from '../core/types.ts';
import { startWorker } from '../util/worker.ts';
import type { Worker } from 'node:worker_threads';

/** The command line, declared once (src/cli/flags.ts); keys are the flags' own names. */
export const SIM_ROBOT = command({
  name: 'sim-robot',
  usage: 'npx tsx src/cli/ros2-sim-robot.ts [flags]',
  about: 'The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport.',
  flags: T.object({
    domain: T.optional(T.integer({ minimum: 0, maximum: 232, description: 'DDS domain id', cli: { defaultText: "the transport's" } })),
    connector: T.string({ minLength: 1, default: 'square16', description: 'connector in the cell' }),
    'image-size': T.integer({ minimum: 8, maximum: 512, default: 64, description: 'rendered image side (px)' }),
    'sensor-hz': T.number({ minimum: 0, maximum: 1000, default: 30, description: 'camera and wrench publishing rate', cli: { arg: 'HZ' } }),
    'control-hz': T.number({ minimum: 1, maximum: 1000, default: 10, description: 'control rate the cell steps at', cli: { arg: 'HZ' } }),
    camera: optionalText('publish camera frames of this size', 'WIDTHxHEIGHT', '--image-size square'),
    'joint-states': T.boolean({ description: 'publish sensor_msgs/JointState on /joint_states and no tip pose (the ready line carries the chain)' }),
    'camera-thread': T.boolean({ description: 'publish the camera from its own thread and DDS participant, as a separate camera node would' }),
    depth: T.boolean({
      description: 'the wrist camera is an RGB-D camera: also publish its depth aligned to colour (32FC1 m) on /camera/aligned_depth_to_color/image_raw',
    }),
  }),
});

const parsed = fromArgv(SIM_ROBOT, process.argv.slice(2), (v) => {
  if (v.camera !== undefined && !/^\d+x\d+$/.test(v.camera)) throw new UsageError(`--camera: must be WIDTHxHEIGHT, got "${v.camera}"`);
  return v;
});
if (typeof parsed === 'number') process.exit(parsed);
const values = parsed;
const controlHz = values['control-hz'];
const sim = await SimBackend.create({
  connector: values.connector,
  cell: { imageSize: values['image-size'], controlHz, nuisance: false, depth: values.depth === true },
});
const transport = new DdsTransport(values.domain !== undefined ? { domainId: values.domain } : {});
const m = values.camera === undefined ? null : /^(\d+)x(\d+)$/.exec(values.camera);
const camera = m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
const jointStates = values['joint-states'];
const sensorHz = values['sensor-hz'];
let cameraThread: Worker | null = null;
if (values['camera-thread']) {
  if (sensorHz <= 0) throw new Error('sim-robot: --camera-thread needs --sensor-hz > 0 (the camera rate)');
  const data: SimCameraData = { domainId: values.domain ?? null, topic: SIM_ROBOT_TOPICS.image, hz: sensorHz };
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
    ...(values.depth ? { depthTopic: SIM_ROBOT_TOPICS.depth } : {}),
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
