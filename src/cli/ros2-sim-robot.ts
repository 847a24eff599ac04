/**
 * The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport (loopback-only by default).
 *   npx tsx src/cli/ros2-sim-robot.ts [--domain N] [--connector square16] [--image-size 64] [--sensor-hz 30] [--control-hz 10] [--camera 640x480]
 *                                     [--joint-states]
 * Prints one JSON line `{"ready":true,...}` when its publishers and subscriptions exist; stops on SIGINT/SIGTERM.
 * --joint-states: an arm that publishes sensor_msgs/JointState on /joint_states and no tip pose; the ready line then
 * carries `kinematics`, the chain for backend.ros2.kinematics (as a real arm's URDF would give it).
 */
import { parseArgs } from 'node:util';
import { SimBackend } from '../robot/sim-backend.ts';
import { DdsTransport } from '../ros2/dds-transport.ts';
import { SimRos2Robot, simArmChain } from '../ros2/sim-robot.ts';

const { values } = parseArgs({
  options: {
    domain: { type: 'string' },
    connector: { type: 'string', default: 'square16' },
    'image-size': { type: 'string', default: '64' },
    'sensor-hz': { type: 'string', default: '30' },
    'control-hz': { type: 'string', default: '10' },
    camera: { type: 'string' },
    'joint-states': { type: 'boolean', default: false },
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
const robot = new SimRos2Robot(transport, sim, {
  controlPeriod: 1 / controlHz,
  sensorHz: num('sensor-hz', 0, 1000),
  jointStates,
  ...(camera ? { camera } : {}),
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
