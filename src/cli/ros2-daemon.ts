/**
 * The daemon as a ROS 2 node: the same daemon as src/cli/daemon.ts, driving the `ros2` backend and serving the ROS
 * services and topics (DaemonRosNode). This is what `ros2 launch` and `ros2 run insertion_daemon insertion_daemon` start.
 *
 *   npx tsx src/cli/ros2-daemon.ts [--ros2 config/ros2.example.yaml] [daemon flags: --config --port --db --models ...]
 *                                   [--ros-args -r from:=to ... --params-file FILE -p name:=value ...]
 *
 * The ros2 settings come from the `backend.ros2` section of the --ros2 file (default: built-in defaults), then from the
 * ROS parameters file and remaps (--ros-args, or INSERTION_ROS2_PARAMS / INSERTION_ROS2_REMAPS as the launch files set).
 * Over the DDS transport the node runs in the daemon's control thread (src/daemon/thread-host.ts) unless --in-process;
 * over rclnodejs it runs on the main thread with the loop.
 */
import { Daemon } from '../daemon/loop.ts';
import { readFileSync } from 'node:fs';
import { ConfigError, readStructured } from '../config/load.ts';
import { createRos2Backend, parseRos2Section, ros2SectionFromEnv, DEFAULT_SECTION } from '../ros2/config.ts';
import { DaemonRosNode } from '../ros2/node.ts';
import { TeleopInput } from '../ros2/teleop.ts';
import { TransportUnavailableError } from '../ros2/transport.ts';
import { applyLoopbackDefault, loadShim } from '../ros2/dds-transport.ts';
import { runIfMain } from '../util/args.ts';
import { runDaemon, type BackendHook } from './daemon.ts';

/** Splits our flags from ROS's: `--ros2 FILE` and everything after `--ros-args` (until `--`). */
export function splitArgs(argv: string[], env: NodeJS.ProcessEnv): { rest: string[]; ros2File: string | null; env: NodeJS.ProcessEnv } {
  const rest: string[] = [];
  const out = { ...env };
  let ros2File: string | null = null;
  const remaps: string[] = env.INSERTION_ROS2_REMAPS ? [env.INSERTION_ROS2_REMAPS] : [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--ros2') {
      ros2File = argv[++i] ?? null;
      if (!ros2File) throw new ConfigError('command line', '--ros2', 'needs a file');
    } else if (a === '--ros-args') {
      for (i++; i < argv.length && argv[i] !== '--'; i++) {
        const r = argv[i] as string;
        if (r === '-r' || r === '--remap') remaps.push(argv[++i] ?? '');
        else if (r === '--params-file') out.INSERTION_ROS2_PARAMS = argv[++i] ?? '';
        else if (r === '-p' || r === '--param' || r === '--log-level' || r === '-e' || r === '--enclave') i++; // not used by this node
      }
    } else {
      rest.push(a);
    }
  }
  if (remaps.length) out.INSERTION_ROS2_REMAPS = remaps.join(';');
  return { rest, ros2File, env: out };
}

/**
 * The ros2 backend hook of the daemon's startup: the `backend.ros2` section comes from `ros2File` when given (its
 * backend.ros2), else from the daemon config's own backend.ros2 (backend.kind: ros2 in config/daemon.yaml), else the
 * built-in defaults; then the ROS parameters file and remaps in `env` (as the launch files set them).
 */
export function ros2Hook(ros2File: string | null, env: NodeJS.ProcessEnv, configFile: string | null = null): BackendHook {
  return {
    usage: '  --ros2 FILE          backend.ros2 settings (config/ros2.example.yaml)\n  --ros-args ...       ROS remaps (-r from:=to) and --params-file',
    refusal: (err) => err instanceof TransportUnavailableError || (err instanceof Error && /backend\.ros2/.test(err.message)),
    create: async (config, calibration) => {
      let section = DEFAULT_SECTION;
      if (ros2File) {
        const raw = readStructured(ros2File) as { backend?: { ros2?: unknown } } | null;
        section = parseRos2Section(raw?.backend?.ros2, ros2File);
      } else if (config.backend.ros2 !== undefined) {
        section = parseRos2Section(config.backend.ros2, configFile ?? 'daemon config');
      }
      section = ros2SectionFromEnv(section, env, (p) => readFileSync(p, 'utf8'));
      const nodeOptions = { ...section.node, practiceCount: 10, staleAfter: calibration.limits.staleSensorMaxAgeS };
      const teleopOn = Boolean(section.teleop.twist || section.teleop.joy);
      const services = `services ${section.node.servicePrefix}/{start_practice,stop_practice,estop,reset_estop}`;
      if (config.controlThread && section.transport === 'dds') {
        // The whole node (DDS participant, backend, services, teleop) runs in the control thread: nothing on this
        // thread (REST, SQLite, the trainer's supervisor) can delay a tick or a ROS e-stop. The shim and the loopback
        // default are checked and set here, so that a missing shim is the operator's clear error (exit 2).
        loadShim();
        applyLoopbackDefault(section.loopbackOnly);
        return {
          threadBackend: { kind: 'ros2', section, goal: calibration.socket.goal ?? null, node: nodeOptions },
          describe:
            `ros2 node ${section.nodeName} over dds, in the control thread; ${services}` +
            (teleopOn ? `; teleop takeover on ${[section.teleop.twist, section.teleop.joy].filter(Boolean).join(', ')}` : ''),
          attach: () => undefined,
          close: async () => undefined,
        };
      }
      const { backend, transport } = await createRos2Backend(section, { tickHz: config.tickHz, goal: calibration.socket.goal ?? null });
      let node: DaemonRosNode | null = null;
      // Operator takeover from the teleop topics (spacenav Twist, Joy), when configured: polled by the control tick.
      const tp = section.teleop;
      const teleop = tp.twist || tp.joy ? new TeleopInput(transport, tp) : null;
      const teleopTopics = [tp.twist, tp.joy].filter(Boolean).join(', ');
      return {
        backend,
        describe:
          `ros2 node ${section.nodeName} over ${transport.name}; services ${section.node.servicePrefix}/{start_practice,stop_practice,estop,reset_estop}` +
          (teleop ? `; teleop takeover on ${teleopTopics}` : ''),
        attach: (app) => {
          node = new DaemonRosNode(transport, app.daemon, backend, nodeOptions);
          // A backend given by code (rclnodejs, or --in-process) keeps the loop in this process (app/daemon-app.ts).
          if (teleop) {
            if (!(app.daemon instanceof Daemon)) throw new Error('teleop takeover needs the control loop in this process');
            app.daemon.addTakeoverInput(teleop);
          }
        },
        close: async () => {
          teleop?.close();
          node?.close();
          backend.dispose();
          await transport.close();
        },
      };
    },
  };
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<number> {
  let split: ReturnType<typeof splitArgs>;
  try {
    split = splitArgs(argv, env);
  } catch (err) {
    console.error(`daemon: ${(err as Error).message}`);
    return 2;
  }
  const { rest, ros2File, env: e } = split;
  // The daemon's own startup (token file, models, learning, API, dashboard, signals), on the ros2 backend.
  return runDaemon(rest, ros2Hook(ros2File, e));
}

runIfMain(import.meta.url, 'ros2-daemon', () => main());
