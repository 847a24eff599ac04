/**
 * The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport (loopback-only by default).
 *   npx tsx src/cli/ros2-sim-robot.ts [--domain N] [--connector square16] [--image-size 64] [--sensor-hz 30] [--control-hz 10] [--camera 640x480] (--help)
 * Prints one JSON line `{"ready":true,...}` when its publishers and subscriptions exist; stops on SIGINT/SIGTERM.
 */
import { command, commandUsage, parseCommand, T, type Static } from './flags.ts';
import { SimBackend } from '../robot/sim-backend.ts';
import { DdsTransport } from '../ros2/dds-transport.ts';
import { SimRos2Robot } from '../ros2/sim-robot.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const SIM_ROBOT = command({
  name: 'ros2-sim-robot',
  usage: 'npx tsx src/cli/ros2-sim-robot.ts [flags]',
  about: 'The simulated cell as a ROS 2 robot, in its own process, over the DDS-wire transport.',
  flags: T.object({
    domain: T.optional(T.integer({ minimum: 0, maximum: 232, description: 'DDS domain id', cli: { defaultText: "the transport's" } })),
    connector: T.string({ minLength: 1, default: 'square16', description: 'connector in the cell' }),
    imageSize: T.integer({ minimum: 8, maximum: 512, default: 64, description: 'rendered image side (px)' }),
    sensorHz: T.number({ minimum: 0, maximum: 1000, default: 30, description: 'camera and wrench publishing rate', cli: { arg: 'HZ' } }),
    controlHz: T.number({ minimum: 1, maximum: 1000, default: 10, description: 'control rate the cell steps at', cli: { arg: 'HZ' } }),
    camera: T.optional(
      T.string({ pattern: '^\\d+x\\d+$', description: 'publish camera frames of this size', cli: { arg: 'WIDTHxHEIGHT', defaultText: '--image-size square' } }),
    ),
  }),
});

let values: Static<typeof SIM_ROBOT.flags>;
try {
  const p = parseCommand(SIM_ROBOT, process.argv.slice(2));
  if (p.help) {
    console.log(commandUsage(SIM_ROBOT));
    process.exit(0);
  }
  values = p.values;
} catch (e) {
  console.error(`sim-robot: ${(e as Error).message}`);
  process.exit(2);
}
const controlHz = values.controlHz;
const sim = await SimBackend.create({ connector: values.connector, cell: { imageSize: values.imageSize, controlHz, nuisance: false } });
const transport = new DdsTransport(values.domain !== undefined ? { domainId: values.domain } : {});
const m = values.camera === undefined ? null : /^(\d+)x(\d+)$/.exec(values.camera);
const camera = m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
const robot = new SimRos2Robot(transport, sim, { controlPeriod: 1 / controlHz, sensorHz: values.sensorHz, ...(camera ? { camera } : {}) });
console.log(JSON.stringify({ ready: true, pid: process.pid, connector: sim.connector, cycloneUri: process.env.CYCLONEDDS_URI }));
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
