/**
 * Every benchmark's command line, declared once as a flag table (src/cli/flags.ts, as the commands in src/cli/ are):
 * `npm run bench -- NAME --help` and `npx tsx bench/NAME.bench.ts --help` print the table, and an unknown flag or a
 * bad value is refused by name before anything is measured. The tables live here, not in the scripts, because a
 * benchmark runs when it is imported: the runner (bench/index.ts) and the tests read them without running one.
 */
import type { TSchema } from '../src/config/declare.ts';
import { command, fromArgv, T, type Command, type Static } from '../src/cli/flags.ts';
import { learningField } from '../src/cli/trainer-flags.ts';

const positive = (description: string, dflt: number, arg = 'N') => T.integer({ minimum: 1, maximum: 10_000_000, default: dflt, description, cli: { arg } });
const nice = (description: string, defaultText: string) =>
  T.optional(T.nullable(T.integer({ minimum: -20, maximum: 19 }), { description, cli: { arg: 'NICE|none', nullWord: 'none', defaultText } }));
/** A benchmark's command: bench/NAME.bench.ts, also run as `npm run bench -- NAME`. */
const bench = <S extends TSchema>(name: string, about: string, flags: S): Command<S> =>
  command({ name, usage: `npx tsx bench/${name}.bench.ts [flags]   (or npm run bench -- ${name} [flags])`, about, flags });

export const COLLECT = bench(
  'collect',
  "Prior-data collection and loading: one episode's simulation and write cost, collection with 0, 1 and 2 workers, the loaders.",
  T.object({
    perConnector: positive('episodes per connector in each collection run', 10),
    rounds: positive('collection runs per worker count', 2),
  }),
);

export const DAEMON = bench(
  'daemon',
  'The control daemon on the simulated cell with ONNX policy and reward: tick compute, missed ticks at 10 Hz (quiet, beside a CPU hog), free-running rate, log throughput.',
  T.object({
    ticks: positive('ticks of each 10 Hz real-time run', 10_000),
    freeTicks: positive('ticks of the free-running runs', 1500),
    freeOnly: T.boolean({ description: 'only the free-running compute figures' }),
    hog: T.boolean({ default: true, description: 'no run beside a CPU-hog process', cli: { flag: '--no-hog', sets: false } }),
    hogTicks: T.optional(T.integer({ minimum: 1, maximum: 10_000_000, description: 'ticks of the run beside the CPU hog', cli: { defaultText: '--ticks' } })),
    logOnly: T.boolean({ description: 'only the log throughput' }),
    depth: T.boolean({
      description: 'only the log throughput, then free-running with the wrist depth image and models/reward-depth.onnx against none and models/reward.onnx',
    }),
    logRows: positive('rows of the log-throughput run', 20_000),
    priority: nice('nice value of the real-time runs', "the config's priority"),
  }),
);

export const DAEMON_THREAD_MODES = ['in-process', 'threaded-no-rt', 'threaded'] as const;

export const DAEMON_THREAD = bench(
  'daemon-thread',
  'The control loop on the main thread vs in its own thread, side by side under the same load (trainer, CPU hog, main-thread blocker): missed ticks, lateness, e-stop latency.',
  T.object({
    seconds: positive('seconds per mode and round', 30, 'S'),
    rounds: positive('rounds over the modes', 1),
    blockMs: T.integer({ minimum: 0, maximum: 60_000, default: 150, description: 'the main thread is blocked 0.5-1.5 x this (ms) ...', cli: { arg: 'MS' } }),
    blockEveryMs: positive('... every this many ms', 1000, 'MS'),
    estops: T.integer({ minimum: 0, maximum: 10_000, default: 6, description: 'e-stops per mode (each path in turn)' }),
    swapEveryMs: positive('a policy activation every this many ms', 2000, 'MS'),
    spawnEveryMs: T.integer({
      minimum: 0,
      maximum: 600_000,
      default: 0,
      description: 'a child process (/bin/true) started from the main thread every this many ms, as the daemon starts its trainer (0: none)',
      cli: { arg: 'MS' },
    }),
    trainer: T.boolean({ default: true, description: 'no background trainer', cli: { flag: '--no-trainer', sets: false } }),
    hog: T.boolean({ default: true, description: 'no CPU-hog process', cli: { flag: '--no-hog', sets: false } }),
    utd: positive("the trainer's updates per practice transition", 20),
    controlPriority: nice('nice value of the control thread', "the config's controlPriority"),
    controlCpu: T.optional(
      T.nullable(T.integer({ minimum: -1, maximum: 1023 }), {
        description: 'CPU of the control thread, the main thread on the others (-1: the last CPU)',
        cli: { arg: 'CPU|none', nullWord: 'none', defaultText: "the config's controlCpu" },
      }),
    ),
    controlWarmupTicks: T.optional(
      T.integer({
        minimum: 0,
        maximum: 5000,
        description: "control ticks of the control thread's warm-up before it is ready (0: none)",
        cli: { arg: 'N', defaultText: "the config's controlWarmupTicks" },
      }),
    ),
    tag: T.optional(
      T.string({
        minLength: 1,
        maxLength: 60,
        pattern: '^[A-Za-z0-9._-]+$',
        description: "appended to the results file's name (two runs side by side)",
        cli: { arg: 'NAME' },
      }),
    ),
    modes: T.array(T.enum(DAEMON_THREAD_MODES), { uniqueItems: true, default: [...DAEMON_THREAD_MODES], description: 'the modes, in this order' }),
  }),
);

export const DASHBOARD = bench(
  'dashboard',
  "The dashboard's cost on the control loop (missed ticks, CPU with tabs, sessions and plain clients) and the time to the first live frame.",
  T.object({
    seconds: positive('seconds per phase', 12, 'S'),
    pages: positive('tabs, sessions or clients per phase', 5),
    inProcess: T.boolean({ description: "the control loop on the daemon's main thread (controlThread false)" }),
  }),
);

export const EVAL = bench(
  'eval',
  "One 20-step evaluation episode in the MuJoCo cell, with and without rendering, and a scripted controller's act() alone.",
  T.object({}),
);

export const EXPORT = bench(
  'export',
  'Export rate from the SQLite log to MCAP and .npz, and the MCAP import rate, on collected prior data.',
  T.object({
    perConnector: positive('episodes per connector collected (2 connectors, 2 scenarios)', 10),
    rounds: positive('timed rounds of each export', 3),
  }),
);

export const LEARN = bench(
  'learn',
  'Learning-core updates/s at batch 256 (DAIB, IQL on images, IQL on cached features) on every engine, beside PyTorch, and the GEMM peak.',
  T.object({
    quick: T.boolean({ description: 'fewer timed updates per workload' }),
    torch: T.boolean({ default: true, description: 'no PyTorch comparison', cli: { flag: '--no-torch', sets: false } }),
    torchThreads: T.array(T.integer({ minimum: 1, maximum: 64 }), { uniqueItems: true, default: [1, 2], description: "PyTorch's thread counts" }),
    warmup: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description: "extra warm-up updates per workload, ours and PyTorch's (V8 optimises the JS on other threads for the first updates)",
      cli: { arg: 'N' },
    }),
    only: T.optional(
      T.array(T.string({ minLength: 1 }), { uniqueItems: true, description: 'only workloads whose name contains one of these', cli: { defaultText: 'all' } }),
    ),
  }),
);

export const ONLINE = bench(
  'online',
  'Learning on the job: online updates/s and missed ticks beside the 10 Hz loop, export -> live time, then RSS over hot-swaps. Without --checkpoint a tiny one is trained first.',
  T.object({
    checkpoint: T.optional(
      T.string({ minLength: 1, description: 'an offline IQL checkpoint to start from', cli: { arg: 'DIR', defaultText: 'a tiny one trained first' } }),
    ),
    offlineDb: T.optional(T.string({ minLength: 1, description: "the trainer's prior data", cli: { arg: 'FILE', defaultText: "the tiny checkpoint's" } })),
    connector: T.string({ minLength: 1, default: 'europlug', description: 'the connector practised', cli: { arg: 'NAME' } }),
    seconds: positive('seconds of phase 1 (training beside the loop)', 120, 'S'),
    swaps: positive('hot-swaps of phase 2', 200),
    hidden: T.array(T.integer({ minimum: 1, maximum: 4096 }), { minItems: 1, default: [16, 16], description: "the tiny checkpoint's MLP widths" }),
    z: T.tuple(T.integer({ minimum: 1, maximum: 1024 }), 2, { default: [4, 4], description: "the tiny checkpoint's zI,zS sizes", cli: { arg: 'ZI,ZS' } }),
    critics: T.integer({
      minimum: 2,
      maximum: 64,
      default: 2,
      description: "the Q ensemble the trainer runs (and the tiny checkpoint's); the target is the min of a random 2",
    }),
    utd: positive("the trainer's updates per practice transition", 4),
    exportEvery: positive('the trainer exports every this many updates', 200),
    gemmPrecision: learningField('gemmPrecision'),
  }),
);

export const ONNX = bench(
  'onnx',
  'onnxruntime on the policy path: single-sample latency, session create and full load, RSS over session create/release cycles.',
  T.object({
    cycles: positive('session create/run/release cycles of the RSS figure', 200),
  }),
);

export const REPLAY = bench(
  'replay',
  'Replay speed open and closed loop (P alone; ONNX policy and reward), and the shadow swap gate on that session.',
  T.object({
    episodes: positive('episodes logged and replayed', 10),
    steps: positive('steps per episode', 20),
  }),
);

export const ROS2 = bench(
  'ros2',
  'The ROS path over DDS on loopback: image rate at the daemon, missed ticks, e-stop message to last motion, episodes per hour (about seconds x 2 + 25 s).',
  T.object({
    seconds: positive('seconds of each practice phase', 30, 'S'),
    inProcess: T.boolean({ description: 'the ROS backend and the loop on the main thread instead of the control thread' }),
  }),
);

/** Not a benchmark of its own: the camera process bench/ros2.bench.ts starts. */
export const ROS2_CAMERA = command({
  name: 'ros2-camera',
  usage: 'npx tsx bench/ros2-camera.ts --domain N [flags]',
  about: 'A stand-in camera driver: publishes one 640x480 rgb8 image on /camera/image_raw over DDS, then prints how many it published.',
  flags: T.object({
    domain: T.integer({ minimum: 0, maximum: 232, description: 'the DDS domain' }),
    seconds: positive('seconds of publishing', 10, 'S'),
    hz: T.number({ exclusiveMinimum: 0, maximum: 1000, default: 30, description: 'images per second', cli: { arg: 'HZ' } }),
  }),
});

export const SIM = bench(
  'sim',
  'The simulated cell: one 10 Hz control step and its parts (physics, image, IK), real-time factor, memory per cell.',
  T.object({
    quick: T.boolean({ description: 'fewer steps and cells' }),
  }),
);

export const SIM_AB = bench(
  'sim-ab',
  "Two source trees' simulated control step side by side in one process, interleaved per episode: CPU and wall median and p99, insertions, and hashes of every image, pose and wrench (equal hashes: bitwise the same). Run by name only.",
  T.object({
    base: T.string({ minLength: 1, description: 'a copy of src/ to compare this checkout against', cli: { arg: 'DIR' } }),
    connectors: T.array(T.string({ minLength: 1 }), { uniqueItems: true, default: ['square16', 'europlug', 'dt12', 'round12'], description: 'the connectors' }),
    steps: T.integer({
      minimum: 20,
      maximum: 1_000_000,
      default: 400,
      description: 'timed control steps per connector and tree, in whole 20-step episodes (the remainder is dropped)',
    }),
    depth: T.boolean({ description: 'the wrist depth image too (CellConfig.depth), hashed with the colour image' }),
  }),
);

export const SIM_COLLISION = bench(
  'sim-collision',
  "Collision detection alone, for two source trees' cell models on one recorded trajectory (this checkout's P-controller episodes): CPU time of mj_kinematics + mj_collision per physics state (best of several rounds, so load matters less), and contacts per state. Run by name only.",
  T.object({
    base: T.string({ minLength: 1, description: 'a copy of src/ to compare this checkout against', cli: { arg: 'DIR' } }),
    connectors: T.array(T.string({ minLength: 1 }), {
      uniqueItems: true,
      default: ['square16', 'europlug', 'dt12', 'round12', 'roundkey'],
      description: 'the connectors',
    }),
    episodes: positive('recorded 20-step episodes per connector (half with a 2 mm goal error)', 20),
    rounds: positive('timed passes over the states per model; the best counts', 9),
  }),
);

export const STORE = bench(
  'store',
  "The log: transitions/s through the writer, append cost, append-to-commit latency, bytes per transition, bulk path, trainer's read path.",
  T.object({}),
);

export const UPDATE_PROFILE = bench(
  'update-profile',
  "One online IQL update on cached features (2x256 heads, batch 256, one BLAS thread) in CPU time by native kernel and GEMM shape, the rest by difference, the trainer's policy average, and the share of the GEMM peak; then one and two threads of the addon side by side.",
  T.object({
    critics: T.integer({ minimum: 2, maximum: 64, default: 2, description: 'critics in the ensemble' }),
    updates: positive('timed updates per pass', 100),
    precisions: T.array(T.enum(['fp32', 'bf16']), {
      minItems: 1,
      uniqueItems: true,
      default: ['fp32'],
      description: 'GEMM input precisions of the side-by-side blocks (bf16: learning.gemmPrecision); the breakdown runs at the first',
      cli: { arg: 'LIST' },
    }),
  }),
);

/** The benchmarks bench/index.ts knows, by name (bench/NAME.bench.ts). */
export const BENCHES: readonly Command[] = [
  COLLECT,
  DAEMON,
  DAEMON_THREAD,
  DASHBOARD,
  EVAL,
  EXPORT,
  LEARN,
  ONLINE,
  ONNX,
  REPLAY,
  ROS2,
  SIM,
  SIM_AB,
  SIM_COLLISION,
  STORE,
  UPDATE_PROFILE,
];
/** Run only when named: they need an argument no default can give (sim-ab, sim-collision: the other tree). */
export const BY_NAME_ONLY: readonly Command[] = [SIM_AB, SIM_COLLISION];

/** A benchmark's flags from this process's argv; --help prints the table and a bad flag says why (exit 0 / 2). */
export function benchArgs<S extends TSchema>(c: Command<S>, argv = process.argv.slice(2)): Static<S> {
  const r = fromArgv(c, argv, (values) => ({ values }));
  if (typeof r === 'number') process.exit(r);
  return r.values;
}
