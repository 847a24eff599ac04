/** Shared by the DDS end-to-end tests: the simulated cell as a ROS 2 robot in its own process, and polling. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { LOOPBACK_CONFIG } from '../../src/ros2/dds-transport.ts';
import type { MessageTypes, RobotAssemblyStateMsg } from '../../src/ros2/messages.ts';
import { root } from '../daemon/helpers.ts';

export async function waitFor(pred: () => boolean, ms: number, what: string, everyMs = 20): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** src/cli/ros2-sim-robot.ts on `domain` (loopback-only), resolved with its ready line once it is on the graph. */
export function startSimRobot(domain: number, args: string[] = []): Promise<{ proc: ChildProcess; ready: Record<string, unknown>; stderr: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/ros2-sim-robot.ts'), '--domain', String(domain), ...args], {
    cwd: root,
    env: { ...process.env, CYCLONEDDS_URI: `file://${LOOPBACK_CONFIG}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res, rej) => {
    // (killed when it does not come up: a child left running would keep the test process alive)
    const timer = setTimeout(() => (proc.kill('SIGKILL'), rej(new Error(`sim robot did not start: ${err}`))), 60_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"ready":true') && l.trim().endsWith('}'));
      if (line) {
        clearTimeout(timer);
        res({ proc, ready: JSON.parse(line) as Record<string, unknown>, stderr: () => err });
      }
    });
    proc.on('exit', (code) => (clearTimeout(timer), rej(new Error(`sim robot exited (${code}): ${err}`))));
  });
}

/** Intera's /robot/state of an enabled arm, e-stop released. */
export const ROBOT_STATE_OK: RobotAssemblyStateMsg = {
  homed: true,
  ready: true,
  enabled: true,
  stopped: false,
  error: false,
  lowvoltage: false,
  estop_button: 0,
  estop_source: 0,
};

/** An rgb8 sensor_msgs/Image of `data` (width x height, rows packed), stamped sec.nanosec in `frame`. */
export const rgb8Image = (
  data: Uint8Array,
  width: number,
  height: number,
  sec: number,
  nanosec: number,
  frame: string,
): MessageTypes['sensor_msgs/msg/Image'] => ({
  header: { stamp: { sec, nanosec }, frame_id: frame },
  height,
  width,
  encoding: 'rgb8',
  is_bigendian: 0,
  step: width * 3,
  data,
});
