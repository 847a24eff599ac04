/**
 * A stand-in camera driver for bench/ros2.bench.ts: publishes one pre-encoded 640x480 rgb8 sensor_msgs/Image on
 * /camera/image_raw at 30 Hz (drift-free schedule) over DDS for --seconds, then prints how many it published.
 *   npx tsx bench/ros2-camera.ts --domain N --seconds S
 */
import { DdsTransport } from '../src/ros2/dds-transport.ts';
import { imageToMsg } from '../src/ros2/convert.ts';
import { QOS_SENSOR } from '../src/ros2/transport.ts';
import { benchArgs, ROS2_CAMERA } from './commands.ts';

const values = benchArgs(ROS2_CAMERA);
const t = new DdsTransport({ domainId: values.domain });
const pub = t.createPublisher('/camera/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
const data = Uint8Array.from({ length: 640 * 480 * 3 }, (_, i) => (i * 7) & 0xff);
const period = 1000 / values.hz;
for (let i = 0; i < 200 && pub.matched() === 0; i++) await new Promise((r) => setTimeout(r, 25));
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < values.seconds * 1000) {
  pub.publish(imageToMsg({ width: 640, height: 480, data }, Date.now() / 1000, 'camera'));
  n++;
  const next = t0 + n * period;
  await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
}
console.log(JSON.stringify({ published: n, seconds: (performance.now() - t0) / 1000 }));
await t.close();
