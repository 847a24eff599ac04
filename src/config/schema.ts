/**
 * The daemon config file (config/daemon.yaml) and the calibration files (calibration/*.yaml), each field declared once
 * (declare.ts): its type, bounds, default, help text and command-line flag. The types below are derived from these
 * declarations, and the loader validates with them, so the two cannot disagree. The YAML files repeat the essentials
 * as comments; a test keeps the shipped daemon.yaml equal to the declared defaults.
 */
import { defaultsOf, T, type Static, type TSchema } from './declare.ts';

// ------------------------------------------------------------------------------------------------ daemon config

export const ApiConfigSchema = T.object(
  {
    host: T.string({
      minLength: 1,
      default: '127.0.0.1',
      description: 'interface to bind; loopback so that only this machine can move the arm (any other address is warned about)',
      cli: { flag: '--host', arg: 'ADDR' },
    }),
    port: T.integer({ minimum: 0, maximum: 65535, default: 8750, description: 'TCP port; 0 picks a free one', cli: { flag: '--port', arg: 'N' } }),
    estopPort: T.nullable(T.integer({ minimum: -1, maximum: 65535 }), {
      default: null,
      description:
        "port of the e-stop listener (POST /estop) in its own thread, on api.host: it sets the control thread's e-stop flag without the main thread, so an e-stop lands while REST, SQLite or model validation keep the main thread busy; null: the API port + 1 (a free port when the API's is 0); 0: a free port; -1 (--estop-port=-1): none, the API's POST /estop only; only with the control loop in its own thread",
      cli: { flag: '--estop-port', arg: 'N|auto', nullWord: 'auto' },
    }),
    tokenEnv: T.string({ minLength: 1, default: 'DAEMON_TOKEN', description: 'environment variable holding the bearer token for state-changing routes' }),
    token: T.nullable(T.string({ minLength: 8 }), {
      default: null,
      description: 'a literal token (tests only); the environment variable wins when both are set',
    }),
  },
  { default: {} },
);

export const SimBackendConfigSchema = T.object(
  {
    connector: T.string({
      minLength: 1,
      default: 'square16',
      description: 'connector (a file under data/connectors) used until a practice request names another',
    }),
    imageSize: T.integer({ minimum: 8, maximum: 1024, default: 64, description: 'camera image side as rendered (px)' }),
    camera: T.enum(['wrist', 'fixed'], { default: 'wrist', description: 'camera in the cell' }),
    goalNoise: T.number({
      minimum: 0,
      maximum: 0.05,
      default: 0,
      description: 'std dev (m) of the x* calibration error the simulator adds to the goal it publishes',
    }),
    startHeight: T.number({ exclusiveMinimum: 0, maximum: 0.5, default: 0.03, description: 'height (m) of the start pose above the socket' }),
    nuisance: T.boolean({ default: true, description: 'randomise table colour, light direction and camera pose per episode' }),
    shadows: T.boolean({ default: false, description: "render shadows; must match how the reward and policy models' data were rendered" }),
    depth: T.boolean({
      default: true,
      description:
        'the wrist camera also gives a depth image (a D405-like RGB-D camera, sim/depth.ts); a reward model whose card takes depth cells needs it (rewardPreference puts the depth reward first)',
    }),
  },
  { default: {} },
);

/** The `backend.ros2` section: validated field by field by its own parser (src/ros2/config.ts parseRos2Section, errors
 *  naming this file and the field) when backend.kind is ros2; config/ros2.example.yaml shows every field. */
const Ros2SectionSchema = {
  type: 'object',
  description: 'ROS 2 node settings (topics, QoS, transport, teleop takeover); see config/ros2.example.yaml',
} as TSchema<Record<string, unknown>>;

export const BackendConfigSchema = T.object(
  {
    kind: T.enum(['sim', 'ros2'], {
      default: 'sim',
      description: 'robot backend: sim (the simulated cell in this process) | ros2 (a robot on the ROS 2 graph; npm start then runs the ROS 2 node)',
    }),
    sim: SimBackendConfigSchema,
    ros2: T.optional(Ros2SectionSchema),
  },
  { default: {} },
);

export const PracticeConfigSchema = T.object(
  {
    episodeSteps: T.integer({
      minimum: 1,
      maximum: 10000,
      default: 20,
      description: 'control steps per episode (the research uses 20)',
      cli: { flag: '--episode-steps', arg: 'N' },
    }),
    explorationNoise: T.number({
      minimum: 0,
      maximum: 0.05,
      default: 0.0005,
      description: 'default std dev (m) of the Gaussian exploration noise added to the residual while practising',
    }),
    noiseFromClearance: T.number({
      minimum: 0,
      maximum: 10,
      default: 0,
      description:
        "practice noise from the connector's fit: each practice episode's noise std dev is this times the connector definition's clearance (data/connectors, clearance_mm), so it explores at the scale of the fit's play; explorationNoise for a connector without a definition; 0: off, explorationNoise for every connector (control/exploration.ts practiceNoise); 1 slowed learning on four held-out connectors and failed nema15 seed 0 (results/online-s24/)",
    }),
    noiseCorrelation: T.number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description:
        'default correlation of the exploration noise from one step to the next within an episode (0: a fresh draw per step; 1: one offset per episode)',
    }),
    noiseTaperM: T.number({
      minimum: 0,
      maximum: 0.1,
      default: 0,
      description: 'height above x* (m) below which the exploration noise fades linearly to zero at x* (0: no taper)',
    }),
    noiseAnnealWindow: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        "practice noise that shrinks as practice succeeds (control/exploration.ts NoiseAnneal): each practice episode's noise is explorationNoise times clamp(2 (1 - s), noiseAnnealFloor, 1), s = the learned successes among this connector's last N practice episodes / N (episodes not yet practised count as failures); 0: off, the noise stays explorationNoise",
    }),
    noiseAnnealFloor: T.number({
      minimum: 0,
      maximum: 1,
      default: 0.25,
      description: 'the smallest share of explorationNoise that noiseAnnealWindow leaves',
    }),
    examEvery: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        "every Nth practice episode of a connector runs without exploration noise (an exam, control/exploration.ts ExamSchedule): its outcome is the policy's own action's, reported apart in status (exams), and its transitions are learned from like any practice; 0: no exams (4 mended one run's late fall but slowed early learning: results/online-s23/)",
    }),
    refineGoalEpisodes: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        "x* refined from seated insertions (control/goal-refine.ts): once this many of a connector's practice episodes are judged seated, its x* moves laterally by the median offset of where they ended from the calibrated x* (the last refineGoalWindow of them), for every later episode of that connector, practice and evaluation; 0: off, x* is the calibrated one. For a cell whose P-controller drives alone, or a policy that learnt with it on: 3 failed its gate with the shipped policy, which already corrects x*'s error and then corrected it twice (results/online-s25/)",
    }),
    refineGoalWindow: T.integer({
      minimum: 1,
      maximum: 1000,
      default: 9,
      description: "the seated practice episodes (a connector's latest) whose median ending refines its x*; at least refineGoalEpisodes",
    }),
    refineGoalMaxM: T.number({
      exclusiveMinimum: 0,
      maximum: 0.05,
      default: 0.004,
      description:
        'the largest lateral correction (m) the refinement applies; a larger one is refused and said (x* is then too far off to touch up: recalibrate)',
    }),
    scenario: T.enum(['I', 'II'], { default: 'II', description: 'default start distribution (I: within 10 mm, II: 10-20 mm away)' }),
    seed: T.integer({ default: 1, description: 'base seed of episode start poses and exploration noise' }),
    successThreshold: T.number({
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      default: 0.5,
      description: "reward probability above which an episode's final observation counts as a (learned) success",
    }),
    useGroundTruthReward: T.boolean({ default: false, description: "ablation only: the simulator's ground-truth success as the reward" }),
    liftToleranceM: T.nullable(T.number({ minimum: 0, maximum: 0.02 }), {
      default: 0.001,
      description:
        "lift check on the learned reward (daemon/scoring.ts checkedReward): an observation whose tip is more than this (m) above the lowest the tip reached earlier in the episode is not seated, whatever the classifier says (seated is as deep as a connector goes); its reward is 0, for the episode's judgement and for learning alike. 0.001 = the simulator's seated tolerance; null: off",
    }),
    heightToleranceM: T.nullable(T.number({ minimum: 0, maximum: 0.05 }), {
      default: 0.004,
      description:
        "height check on the learned reward (daemon/scoring.ts checkedReward): an observation whose tip is more than this (m) above the calibrated x* is not seated (a plug resting on the socket face stands its insertion depth above it); reward 0, as the lift check. Must exceed x*'s vertical calibration error plus about 1 mm; it misses plugs held up by less. null: off",
    }),
    endSeatedFrames: T.nullable(T.integer({ minimum: 1, maximum: 1000 }), {
      default: null,
      description:
        'seated end (daemon/scoring.ts SeatedEnd): an episode (practice or evaluation) ends, judged and logged done, at the first observation completing this many consecutive observations whose checked learned reward says seated; the arm is held there instead of pressing on to the step limit. Not with useGroundTruthReward. Measured with 5 (from the prior data), not adopted: results/online-hold/. null: off',
    }),
  },
  { default: {} },
);

/** The fleet learner's batch sampling over the pooled practice rows (src/online/trainer.ts OnlineTrainerConfig.sampling). */
export const FleetSamplingSchema = T.object(
  {
    arms: T.record(T.number({ minimum: 0, maximum: 1e6 }), {
      default: {},
      description:
        "fleet learner: relative weight of each arm's rows (robot id -> weight) in the online share of every batch; an arm not named weighs 1, 0 leaves it out",
    }),
    connectors: T.record(T.number({ minimum: 0, maximum: 1e6 }), {
      default: {},
      description: "fleet learner: relative weight of each connector's rows (connector -> weight), multiplied with the arm's; not named: 1, 0 leaves it out",
    }),
  },
  { default: {} },
);

export const FleetConfigSchema = T.object(
  {
    enabled: T.boolean({
      default: false,
      description: "ship this arm's log to the fleet's PostgreSQL and take the fleet learner's versions (needs robotId); false: SQLite alone",
    }),
    credentialsFile: T.nullable(T.string({ minLength: 1 }), {
      default: null,
      description:
        'file holding a postgres:// URL or PGHOST=/PGPORT=/PGUSER=/PGPASSWORD=/PGDATABASE= lines (relative to the config file; keep it out of the repo, mode 600); null: $DATABASE_URL, else the PG* environment',
    }),
    shipBatch: T.integer({ minimum: 1, maximum: 10000, default: 256, description: 'transitions per shipped batch (one PostgreSQL transaction)' }),
    shipIntervalMs: T.integer({
      minimum: 10,
      maximum: 60000,
      default: 250,
      description: 'how often the shipper looks for new committed rows when it has caught up (ms)',
    }),
    takeVersions: T.boolean({
      default: true,
      description: "validate and swap in the fleet learner's published versions that the rollout gives this arm; false: ship only",
    }),
    sampling: FleetSamplingSchema,
  },
  { default: {} },
);

export const ShadowGateConfigSchema = T.object(
  {
    episodes: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        'shadow swap gate (src/replay/shadow.ts): replay each trainer export closed loop in the simulated cell from this many most recent logged starts, beside the driving policy, and refuse it when it does worse by more than the margin; 0 = off',
      cli: { flag: '--shadow-gate-episodes', arg: 'N' },
    }),
    margin: T.number({
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: "the shadow gate refuses a candidate whose simulated success rate is below the driving policy's by more than this",
      cli: { flag: '--shadow-gate-margin', arg: 'M' },
    }),
  },
  { default: {} },
);

export const LabelsConfigSchema = T.object(
  {
    requests: T.boolean({
      default: true,
      description:
        "ask the operator to label an episode's outcome when the learned reward is unsure or disagrees with the tip pose (GET /label-requests, /status, the event stream)",
    }),
    uncertainBand: T.number({
      minimum: 0,
      maximum: 0.5,
      default: 0.15,
      description: "the final observation's reward probability counts as uncertain within this distance of practice.successThreshold",
    }),
    flipSteps: T.integer({
      minimum: 0,
      maximum: 20,
      default: 3,
      description: 'last reward probabilities compared: on both sides of the threshold while the tip stood still asks for a label (0 = off)',
    }),
    stillM: T.number({
      minimum: 0,
      maximum: 0.01,
      default: 0.001,
      description: 'tip movement (m) across those steps below which the scene counts as unchanged',
    }),
    seatedToleranceM: T.number({
      exclusiveMinimum: 0,
      maximum: 0.02,
      default: 0.002,
      description:
        'tip height above x* (m) up to which the connector counts as physically down; a learned outcome that disagrees asks for a label. Tighter than practice.heightToleranceM, above which the reward is refused outright',
    }),
    budget: T.number({
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'fraction of judged episodes that may ask for a label (requests never exceed ceil(budget * episodes))',
    }),
    fineTune: T.boolean({
      default: false,
      description:
        "also fine-tune the learned reward on the labels in the background trainer (a label always overrides its own episode's reward). Off by default: with the depth reward it removed no false success and added 10-12 missed ones over three seeds, and with the image reward it gained nothing (results/labels-depth/, results/reward-lift-check/)",
    }),
  },
  { default: {} },
);

/**
 * Learning on the job (the background trainer, src/online/): the defaults are the settings that produced the measured
 * results (src/online/README.md); the experiment (src/cli/experiment.ts) reads the same section.
 */
export const LearningConfigSchema = T.object(
  {
    enabled: T.boolean({
      default: true,
      description: 'learn on the job: run the background trainer (online IQL) and hot-swap its exports',
      cli: { flag: '--no-learning', sets: false },
    }),
    checkpoint: T.nullable(T.string({ minLength: 1 }), {
      default: null,
      description:
        'offline IQL checkpoint the trainer starts from (relative to the config file); null: <modelsDir>/iql-offline, and learning stays off, saying so, when that directory has none',
      cli: { flag: '--learning-checkpoint', arg: 'DIR' },
    }),
    offlineDb: T.nullable(T.string({ minLength: 1 }), {
      default: '../data/prior.db',
      description:
        'prior data for the offline share of each batch (relative to the config file); when the file does not exist (or null), the trainer learns from practice data alone',
      cli: { flag: '--offline-db', arg: 'FILE|none', nullWord: 'none' },
    }),
    workDir: T.string({
      minLength: 1,
      default: '../data/runs/trainer',
      description: "the trainer's own checkpoints and exported versions (relative to the config file)",
      cli: { flag: '--learning-work-dir', arg: 'DIR' },
    }),
    onlineFraction: T.number({
      minimum: 0,
      maximum: 1,
      default: 1,
      description:
        "share of each update batch drawn from practice data; 1: practice data alone, the prior data is not loaded (over three seeds it learned faster and dipped less than RLPD's 0.5: results/online-seeds-of100/)",
      cli: { flag: '--online-fraction', arg: 'F' },
    }),
    utd: T.number({
      exclusiveMinimum: 0,
      maximum: 100,
      default: 3,
      description:
        'updates per new practice transition (update-to-data ratio); 3 reached the online target within 50 practice episodes where 2 needed 75-100, and met it in 44 of 50 runs against 39 (results/online-s22/); 4 learned fast, then fell back (results/online-seeds-utd4/)',
      cli: { flag: '--utd', arg: 'R' },
    }),
    utdLateAfter: T.integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 0,
      description:
        'practice transitions of a connector (robot/connector) after which its further transitions owe utdLate updates each instead of utd: learn a new connector fast, then train less hard on what it has learnt; 0: utd throughout (1000 with utdLate 2 met the online target in 45 of 50 runs against 44, but its worst final on seeds 3-4 was lower: not the default, results/online-s23/)',
      cli: { flag: '--utd-late-after', arg: 'N' },
    }),
    utdLate: T.number({
      exclusiveMinimum: 0,
      maximum: 100,
      default: 2,
      description: 'updates per practice transition of a connector past utdLateAfter of its transitions',
      cli: { flag: '--utd-late', arg: 'R' },
    }),
    batchSize: T.integer({ minimum: 2, maximum: 4096, default: 256, description: 'update batch size' }),
    policyAverage: T.number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.002,
      description: 'Polyak rate of the exported policy head (raw SGD weights move the residual by more than the clearance between exports); 1 = raw weights',
    }),
    warmupUpdates: T.integer({
      minimum: 0,
      maximum: 1000000,
      default: 1600,
      description:
        'critic-only updates at the switch from offline to online: the policy stays the offline one until the critics have adapted (1600 = about 27 practice episodes of 20 steps at UTD 3, 40 at UTD 2; with temperature 6 no run dipped by more than 2 over the 25 target runs, against 3 with 800 and temperature 3: results/online-s19/; europlug: without it 3 9 7 0 0 2/10 over 50 episodes, with 800 3 3 3 7 7 8: src/online/README.md)',
      cli: { flag: '--warmup-updates', arg: 'N' },
    }),
    evidenceGate: T.boolean({
      default: true,
      description:
        "the evidence gate: exports stay the offline policy until every critic of the ensemble ranks the trainer's candidate above it on practice states the critics have not yet learned from (src/online/evidence-gate.ts; on by default since results/online-s11/, where it removed the dips at the switch; its critics also rank later versions that drift below the offline level ahead, so it does not catch those: results/online-s16/); off: exports follow the average from the first actor update",
      cli: { flag: '--no-evidence-gate', sets: false },
    }),
    actorLr: T.nullable(T.number({ exclusiveMinimum: 0, maximum: 0.1 }), {
      default: null,
      description: "the policy head's learning rate online; null: the checkpoint's (3e-4)",
    }),
    temperature: T.nullable(T.number({ exclusiveMinimum: 0, maximum: 100 }), {
      default: 6,
      description:
        "inverse temperature beta of IQL's advantage weights exp(beta * A) online (how greedily the policy follows the practice actions the critics rank above V; 6, twice the checkpoint's, learned faster in the daemon's regime: results/online-s19/); null: the checkpoint's (3)",
      cli: { flag: '--temperature', arg: 'BETA|checkpoint', nullWord: 'checkpoint' },
    }),
    critics: T.nullable(T.integer({ minimum: 1, maximum: 32 }), {
      default: 10,
      description:
        "Q critics of the online learner (RLPD's 10: over the five held-out connectors x 3 seeds, mean 15.6 -> 17.7/20, worst 6 -> 11, worst dip 6 -> 3 against the twin critics; results/online-seeds-ens10/); null: the checkpoint's (2, twin Q). More than the checkpoint has starts the extra ones from its critics' hidden layers with fresh output layers (src/online/README.md)",
      cli: { flag: '--critics', arg: 'N|checkpoint', nullWord: 'checkpoint' },
    }),
    targetCritics: T.nullable(T.integer({ minimum: 1, maximum: 32 }), {
      default: 2,
      description:
        "target critics whose min is each update's target, drawn at random per update when fewer than the critics (RLPD: 2 of 10); null: the checkpoint's (2)",
      cli: { flag: '--target-critics', arg: 'N|checkpoint', nullWord: 'checkpoint' },
    }),
    criticPolyak: T.nullable(T.number({ exclusiveMinimum: 0, maximum: 1 }), {
      default: null,
      description: "Polyak rate of the target critics online; null: the checkpoint's (0.005)",
      cli: { flag: '--critic-polyak', arg: 'RATE|checkpoint', nullWord: 'checkpoint' },
    }),
    hindsightWeight: T.number({
      minimum: 0,
      maximum: 100,
      default: 1,
      description:
        "hindsight aims (src/online/trainer.ts seatedAims): practice states whose plug rests on the socket's face are given their connector's aim, the median of where its latest seated practice episodes ended relative to x*, as one more action of this weight x the batch's mean advantage weight in the actor's loss (1: the held-out five met the online target in 40 of 40 runs over seeds 0-7, against 37 without: results/online-s25/); 0: off",
      cli: { flag: '--hindsight-weight', arg: 'W' },
    }),
    exportEvery: T.integer({
      minimum: 0,
      maximum: 1000000,
      default: 0,
      description: 'export every N updates; 0: after the updates owed for each new batch of practice episodes',
    }),
    gemmThreads: T.nullable(T.integer({ minimum: 1, maximum: 2 }), {
      default: null,
      description:
        "threads of the trainer's native kernels: 2 splits its GEMMs, Adam and LayerNorm over both cores with bit-identical results (src/learn/README.md); null: env INSERTION_GEMM_THREADS, else 2 where the trainer may use two CPUs (1 on one)",
    }),
    gemmPrecision: T.nullable(T.enum(['fp32', 'bf16']), {
      default: 'bf16',
      cli: { arg: 'fp32|bf16|env', nullWord: 'env' },
      description:
        "inputs of the trainer's native GEMMs: 'bf16' rounds them to bfloat16 and multiplies through oneDNN with float32 sums (weights, Adam and the rest stay float32; faster only on CPUs with AVX512_BF16 or AMX, results/learner-bf16/; the default since it learned as well online, results/online-s11/); falls back to fp32 where oneDNN or the CPU's bf16 is missing (the engine label says which ran); null: env INSERTION_GEMM_PRECISION, else fp32",
    }),
    shadowGate: ShadowGateConfigSchema,
  },
  { default: {} },
);

export const DaemonConfigSchema = T.object({
  api: ApiConfigSchema,
  db: T.string({ minLength: 1, description: "SQLite log file (in the file: relative to the file's directory)", cli: { flag: '--db', arg: 'FILE' } }),
  tickHz: T.number({ exclusiveMinimum: 0, maximum: 1000, default: 10, description: 'control rate (Hz)', cli: { flag: '--tick-hz', arg: 'HZ' } }),
  realtime: T.boolean({
    default: true,
    description: 'tick at wall-clock deadlines; false: free-run as fast as the loop goes (experiments in sim)',
    cli: { flag: '--free-run', sets: false },
  }),
  modelsDir: T.string({ minLength: 1, description: 'directory of ONNX models with their JSON cards', cli: { flag: '--models', arg: 'DIR' } }),
  rewardPreference: T.array(T.string({ minLength: 1 }), {
    default: ['reward-depth.onnx', 'reward.onnx'],
    description:
      "reward model files in modelsDir, most preferred first: the daemon starts with the first whose card's inputs the robot's sensors can feed (the depth-steps reward on a cell with a wrist depth image, the image reward otherwise); a reward activated over REST stays first; [] or none fed: the newest card version",
  }),
  calibrationDir: T.string({ minLength: 1, description: 'directory of calibration files', cli: { flag: '--calibration', arg: 'DIR' } }),
  swapAt: T.enum(['episode-boundary', 'between-ticks'], { default: 'episode-boundary', description: 'when a newly activated policy takes over by default' }),
  controlThread: T.boolean({
    default: true,
    description:
      'run the control loop with its robot (the simulated cell, or the ROS 2 node over DDS) and its own model sessions in a worker thread, so REST, event streams, SQLite and model loading on the main thread cannot delay a tick; false: in the main thread (ROS 2 over rclnodejs always runs there)',
    cli: { flag: '--in-process', sets: false },
  }),
  controlPriority: T.nullable(T.integer({ minimum: -20, maximum: 19 }), {
    default: -10,
    description:
      "nice value of the control thread alone (controlThread): it needs a few ms of CPU per tick, on time, so it outranks the rest of the daemon and the trainer without starving them; < 0 below the process's needs root or CAP_SYS_NICE (refused: said, and it keeps the process's priority); null: the process's priority",
  }),
  controlRealtime: T.nullable(T.integer({ minimum: 1, maximum: 99 }), {
    default: 10,
    description:
      "real-time priority (SCHED_FIFO, reset on fork) of the control thread alone, as ros2_control runs its loop: nice only ranks threads within one scheduling group, and other sessions' jobs (Linux autogroups) are other groups; the thread takes about 3 % of a core; taken once the daemon is ready, and left for each simulated cell's reset and retract (the simulator's own work, no tick due: at SCHED_FIFO it held the CPU against other daemons' control threads); needs root or CAP_SYS_NICE (refused: said, and nice applies); null: normal scheduling",
  }),
  controlCpu: T.nullable(T.integer({ minimum: -1, maximum: 1023 }), {
    default: -1,
    description:
      "CPU of the control thread alone (controlThread); the daemon's main thread then runs on the process's other CPUs, so the two never compete for a core (src/util/affinity.ts says why); daemons on one machine claim their CPUs in lockDir, so that two arms' real-time control threads do not share one (src/app/control-cpu.ts); -1 (default): a CPU no other daemon's control thread has, the last the process may use first; when every CPU has one, the least shared (said at start); n: CPU n (claimed too; shared and said if another daemon has it); a CPU the process may not use is refused at start; the processes and worker threads the daemon starts later (the trainer, replay jobs) get all its CPUs; with one CPU it is off (said); null: no pinning. Default on: with the MessagePort it lowered the tick lateness p99 in 5 of 5 pairs (results/campaign/missed-ticks-pinning-setting-pairs.json); since the shared-memory rings no difference is measured (results/campaign/missed-ticks-control-cpu-native-pairs.json)",
    cli: { flag: '--control-cpu', arg: 'CPU|none', nullWord: 'none' },
  }),
  controlWarmupTicks: T.integer({
    minimum: 0,
    maximum: 5000,
    default: 300,
    description:
      "control ticks the control thread practises, as fast as they go, on a simulated cell of its own before it says it is ready (controlThread), so that V8 optimizes the tick's code and MuJoCo's wasm tiers up before any tick counts (src/daemon/warmup.ts); it never touches the robot, the log or the e-stop flag; 0: off",
    cli: { flag: '--control-warmup-ticks', arg: 'N' },
  }),
  priority: T.nullable(T.integer({ minimum: -20, maximum: 19 }), {
    default: -5,
    description:
      'nice value of the daemon process (-20..19, lower = more CPU), so the control loop outranks a trainer; < 0 needs root or CAP_SYS_NICE (refused: said, and run at normal priority); null leaves it alone',
    cli: { flag: '--priority', arg: 'NICE|none', nullWord: 'none' },
  }),
  backend: BackendConfigSchema,
  practice: PracticeConfigSchema,
  labels: LabelsConfigSchema,
  learning: LearningConfigSchema,
  robotId: T.nullable(T.string({ minLength: 1, maxLength: 200 }), {
    default: null,
    description:
      "what identifies the robot this daemon drives (e.g. its controller's address or serial number): a second daemon for the same robot id is refused, whatever its database; null: no robot lock (the simulated cell lives inside the daemon's process)",
  }),
  lockDir: T.nullable(T.string({ minLength: 1 }), {
    default: null,
    description:
      'directory of the per-robot lock files and the control-CPU claims (relative to the config file): daemons that share it agree on robots and CPUs, so one per machine; null: $INSERTION_DAEMON_LOCK_DIR, else /run/lock/insertion-daemon, else <tmpdir>/insertion-daemon-locks',
  }),
  fleet: FleetConfigSchema,
});

export type ApiConfig = Static<typeof ApiConfigSchema>;
export type SimBackendConfig = Static<typeof SimBackendConfigSchema>;
export type BackendConfig = Static<typeof BackendConfigSchema>;
export type PracticeConfig = Static<typeof PracticeConfigSchema>;
export type FleetConfig = Static<typeof FleetConfigSchema>;
export type FleetSampling = Static<typeof FleetSamplingSchema>;
export type LabelsConfig = Static<typeof LabelsConfigSchema>;
export type DaemonConfig = Static<typeof DaemonConfigSchema>;
export type LearningConfig = Static<typeof LearningConfigSchema>;
export type ShadowGateSettings = Static<typeof ShadowGateConfigSchema>;

/** The learning section as declared (paths still relative to the config file): the trainer's and the experiment's defaults. */
export const LEARNING_DEFAULTS: Readonly<LearningConfig> = defaultsOf(LearningConfigSchema);

/**
 * Names of the programmatic overrides (loadDaemonConfig's second argument) and the field each sets. The command-line
 * flags are declared on the fields themselves (`cli`); a test checks every flagged field has an override here.
 */
export const OVERRIDES = {
  port: 'api.port',
  host: 'api.host',
  estopPort: 'api.estopPort',
  db: 'db',
  tickHz: 'tickHz',
  modelsDir: 'modelsDir',
  calibrationDir: 'calibrationDir',
  realtime: 'realtime',
  episodeSteps: 'practice.episodeSteps',
  priority: 'priority',
  controlCpu: 'controlCpu',
  controlWarmupTicks: 'controlWarmupTicks',
  controlThread: 'controlThread',
  learning: 'learning.enabled',
  learningCheckpoint: 'learning.checkpoint',
  offlineDb: 'learning.offlineDb',
  learningWorkDir: 'learning.workDir',
  onlineFraction: 'learning.onlineFraction',
  utd: 'learning.utd',
  utdLateAfter: 'learning.utdLateAfter',
  utdLate: 'learning.utdLate',
  warmupUpdates: 'learning.warmupUpdates',
  evidenceGate: 'learning.evidenceGate',
  critics: 'learning.critics',
  targetCritics: 'learning.targetCritics',
  criticPolyak: 'learning.criticPolyak',
  hindsightWeight: 'learning.hindsightWeight',
  temperature: 'learning.temperature',
  shadowGateEpisodes: 'learning.shadowGate.episodes',
  shadowGateMargin: 'learning.shadowGate.margin',
} as const;

type PathValue<O, P extends string> = P extends `${infer H}.${infer R}` ? (H extends keyof O ? PathValue<O[H], R> : never) : P extends keyof O ? O[P] : never;
/** Command-line or programmatic overrides of config fields, typed from the declaration. */
export type ConfigOverrides = { [K in keyof typeof OVERRIDES]?: PathValue<DaemonConfig, (typeof OVERRIDES)[K]> };

// ------------------------------------------------------------------------------------------------ calibration

/** Safety limits that have a soft bound: the looser direction is upwards for each. */
export const SOFT_BOUNDED_LIMITS = ['forceLimitN', 'maxStepM', 'residualBoundM', 'staleSensorMaxAgeS'] as const;
export type SoftBoundedLimit = (typeof SOFT_BOUNDED_LIMITS)[number];

/**
 * Bounds of every safety limit. `hard`: never accepted beyond (the schema refuses it). `soft`: accepted beyond only
 * when limits.beyondSoftBound lists the field, a deliberate act that is logged. Why these numbers:
 * - forceLimitN: wrist F/T sensors of this arm class saturate at about 500-600 N (ATI Mini45: 580 N in z), so a limit
 *   above 500 N is no limit; the simulated cell presses at 80-160 N when blocked, the shipped 250 N is above that and
 *   300 N is where an operator must say they mean it.
 * - maxStepM: 5 cm per step is 0.5 m/s at 10 Hz, beyond the 0.25 m/s usual for collaborative work; insertion needs
 *   millimetres per step, so more than 2 cm (0.2 m/s) needs saying so.
 * - residualBoundM: the learned correction rides on the P-controller; beyond 1 cm per axis it is the policy, not a
 *   correction, driving the arm; 2 cm hard.
 * - staleSensorMaxAgeS: 0.5 s is 5 ticks at 10 Hz without a fresh frame or wrench; 2 s blind is never acceptable.
 */
export const SAFETY_BOUNDS = {
  forceLimitN: { unit: 'N', hard: 500, soft: 300 },
  maxStepM: { unit: 'm', hard: 0.05, soft: 0.02 },
  residualBoundM: { unit: 'm', hard: 0.02, soft: 0.01 },
  staleSensorMaxAgeS: { unit: 's', hard: 2, soft: 0.5 },
} as const satisfies Record<SoftBoundedLimit, { unit: string; hard: number; soft: number }>;

/** A position (m, base frame): within 2 m of the base (the arm reaches about 1.3 m). */
const position = T.tuple(T.number({ minimum: -2, maximum: 2 }), 3);

export const CameraCalibrationSchema = T.object({
  crop: T.nullable(
    T.object({ x: T.integer({ minimum: 0 }), y: T.integer({ minimum: 0 }), width: T.integer({ minimum: 1 }), height: T.integer({ minimum: 1 }) }),
    { description: 'crop rectangle in camera pixels, or null for the full frame' },
  ),
  inputSize: T.tuple(T.integer({ minimum: 1, maximum: 1024 }), 2, { description: 'policy input size [width, height] when no policy card says otherwise' }),
  channelOrder: T.enum(['rgb', 'bgr'], { description: "channel order of the camera's frames; the policy always gets RGB" }),
});

export const WrenchCalibrationSchema = T.object({
  // N and N m: beyond the sensor's range (see SAFETY_BOUNDS) a bias is a broken sensor, not a bias.
  bias: T.tuple(T.number({ minimum: -500, maximum: 500 }), 6, {
    description: 'static sensor bias [Fx, Fy, Fz, Tx, Ty, Tz] subtracted until the first re-zero',
  }),
  rezeroAtEpisodeStart: T.boolean({ description: 're-zero (tare) the sensor at each episode start, in free air' }),
});

export const SocketCalibrationSchema = T.object({
  goal: T.nullable(position, { description: 'nominal socket position x* (m, base frame); null: the goal the backend publishes' }),
  offset: T.tuple(T.number({ minimum: -0.1, maximum: 0.1 }), 3, { description: 'added to x* (m); calibration-error experiments' }),
});

export const WorkspaceCalibrationSchema = T.object({
  min: position,
  max: position,
});

export const GainsCalibrationSchema = T.object({
  // Above 2 a discrete P step overshoots by more than the error and diverges.
  kp: T.tuple(T.number({ minimum: 0, maximum: 2 }), 3, { description: 'P-controller gains: u_H = -kp (x - x*)' }),
});

export const LimitsCalibrationSchema = T.object({
  forceLimitN: T.number({
    exclusiveMinimum: 0,
    maximum: SAFETY_BOUNDS.forceLimitN.hard,
    description: 'trip (stop and retract) when the force magnitude at the wrist exceeds this (N)',
  }),
  maxStepM: T.number({
    exclusiveMinimum: 0,
    maximum: SAFETY_BOUNDS.maxStepM.hard,
    description: 'largest executed displacement per control step (m, Euclidean norm)',
  }),
  residualBoundM: T.number({
    minimum: 0,
    maximum: SAFETY_BOUNDS.residualBoundM.hard,
    description: "largest residual per axis (m); the policy's output is clamped to [-b, b]",
  }),
  staleSensorMaxAgeS: T.number({
    exclusiveMinimum: 0,
    maximum: SAFETY_BOUNDS.staleSensorMaxAgeS.hard,
    description: 'a camera frame or wrench sample older than this (s, backend clock) trips the watchdog',
  }),
  retractM: T.number({ minimum: 0, maximum: 0.05, description: 'retract distance after a force-limit trip (m)' }),
  maxMissedTicks: T.integer({
    minimum: 1,
    maximum: 10,
    description: 'control ticks missed in a row during an episode before the arm is stopped and the e-stop latched (a deadman; 10 = one second at 10 Hz)',
  }),
  beyondSoftBound: T.optional(
    T.array(T.enum(SOFT_BOUNDED_LIMITS), { uniqueItems: true, description: 'limits deliberately set beyond their soft bound; each is logged at startup' }),
  ),
});

export const CalibrationSchema = T.object({
  camera: CameraCalibrationSchema,
  wrench: WrenchCalibrationSchema,
  socket: SocketCalibrationSchema,
  workspace: WorkspaceCalibrationSchema,
  gains: GainsCalibrationSchema,
  limits: LimitsCalibrationSchema,
});

export type CameraCalibration = Static<typeof CameraCalibrationSchema>;
export type WrenchCalibration = Static<typeof WrenchCalibrationSchema>;
export type SocketCalibration = Static<typeof SocketCalibrationSchema>;
export type WorkspaceCalibration = Static<typeof WorkspaceCalibrationSchema>;
export type GainsCalibration = Static<typeof GainsCalibrationSchema>;
export type LimitsCalibration = Static<typeof LimitsCalibrationSchema>;
export type Calibration = Static<typeof CalibrationSchema>;

/** One file per section, calibration/<name>.yaml (or .json). */
export const CALIBRATION_FILES = ['camera', 'wrench', 'socket', 'workspace', 'gains', 'limits'] as const satisfies readonly (keyof Calibration)[];
export type CalibrationFile = (typeof CALIBRATION_FILES)[number];

/** The limits the project ships (calibration/limits.yaml; a test keeps the two equal): the reference a change is logged against. */
export const SHIPPED_LIMITS: Readonly<Omit<LimitsCalibration, 'beyondSoftBound'>> = {
  forceLimitN: 250,
  maxStepM: 0.01,
  residualBoundM: 0.005,
  staleSensorMaxAgeS: 0.5,
  retractM: 0.01,
  maxMissedTicks: 3,
};
