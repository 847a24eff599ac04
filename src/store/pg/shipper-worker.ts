/** Worker-thread entry of ShipperThread (shipper.ts): runs a Shipper and reports its stats about once a second. */
import { parentPort, workerData } from 'node:worker_threads';
import { Shipper, type ShipperToMain, type ShipperWorkerData } from './shipper.ts';

const port = parentPort;
if (!port) throw new Error('shipper-worker: must run as a worker thread');
const s = new Shipper(workerData as ShipperWorkerData);
const post = (m: ShipperToMain): void => port.postMessage(m);
const timer = setInterval(() => post({ type: 'stats', stats: s.stats }), 1000);
port.on('message', (m: { type: string }) => {
  if (m.type === 'nudge') s.nudge();
  if (m.type === 'stop') {
    clearInterval(timer);
    void s.stop().then(() => {
      post({ type: 'stats', stats: s.stats });
      post({ type: 'stopped' });
      port.close();
    });
  }
});
s.start();
post({ type: 'stats', stats: s.stats });
