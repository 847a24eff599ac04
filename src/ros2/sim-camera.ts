/**
 * The simulated robot's camera driver in its own thread (started by src/cli/ros2-sim-robot.ts with --camera-thread):
 * it publishes the newest rendered frame as sensor_msgs/Image at a fixed rate on its own DDS participant, as a real
 * camera node beside the arm's driver does. In the robot's main thread each motion command runs 100 ms of physics and a
 * render; a camera on that thread waits for them (measured: 24 of 30 frames/s while the daemon practised).
 * The main thread posts each new frame ({width, height, data}); `{stop: true}` ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { RgbImage } from '../core/types.ts';
import { imageToMsg } from './convert.ts';
import { DdsTransport } from './dds-transport.ts';
import { QOS_SENSOR } from './transport.ts';

export interface SimCameraData {
  domainId: number | null;
  topic: string;
  hz: number;
}

if (!parentPort) throw new Error('sim-camera.ts runs as a worker thread (src/cli/ros2-sim-robot.ts --camera-thread)');
const port = parentPort;
const o = workerData as SimCameraData;
const transport = new DdsTransport(o.domainId !== null ? { domainId: o.domainId } : {});
const pub = transport.createPublisher(o.topic, 'sensor_msgs/msg/Image', QOS_SENSOR);
let frame: RgbImage | null = null;
let published = 0;
const period = 1000 / o.hz;
const t0 = performance.now();
let timer: NodeJS.Timeout | null = null;
// Drift-free: frame n goes out at t0 + n * period (a late one is sent at once, never two at once).
const tick = (): void => {
  if (frame) {
    pub.publish(imageToMsg(frame, Date.now() / 1000, 'wrist_camera'));
    published++;
  }
  const n = Math.floor((performance.now() - t0) / period) + 1;
  timer = setTimeout(tick, Math.max(0, t0 + n * period - performance.now()));
};
tick();
port.on('message', (m: RgbImage | { stop: true }) => {
  if ('stop' in m) {
    if (timer) clearTimeout(timer);
    void transport.close().then(() => {
      port.postMessage({ stopped: true, published });
      port.close();
    });
    return;
  }
  frame = m;
});
