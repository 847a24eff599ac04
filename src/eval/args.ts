/**
 * Command-line options of the evaluation (src/cli/evaluate.ts), parsed and validated without side effects so
 * that errors can be tested: every bad value gives a message naming the flag and the value.
 */
import { parseArgs } from 'node:util';
import {
  BASELINES_SCENARIO_I,
  BASELINES_SCENARIO_II,
  CONTROLLER_NAMES,
  LEARNED_CONTROLLER_NAMES,
  describeController,
  isControllerName,
} from '../control/registry.ts';
import { goalErrorVec } from '../core/goal-error.ts';
import { UsageError, goalErrorMm, int, list, nonNegMm, num, vecMm } from '../util/args.ts';
import type { Scenario } from '../core/types.ts';

export { UsageError };

export interface EvalArgs {
  /** Controller names; null = the research's baselines for each scenario (BASELINES_SCENARIO_I / _II). */
  controllers: string[] | null;
  /** Connector names; null = all connectors in the directory. */
  connectors: string[] | null;
  connectorDir: string | null;
  scenarios: Scenario[];
  trials: number;
  episodeLength: number;
  seed: number;
  /** Calibration error of x* (m): fixed bias (x, y, z) and per-episode uniform +- noise on x and y. */
  goalBias: [number, number, number];
  goalNoise: number;
  /** Start height above the socket (m); null = the cell's default. */
  startHeight: number | null;
  /** Camera image size (px); 0 = no rendering (scripted controllers do not look); null: not given. */
  imageSize: number | null;
  /** The policy file of the 'policy' controller. */
  policy: string;
  /** Localize stand-in: estimate error std (m) and bias (m). */
  localizeStd: number | null;
  localizeBias: [number, number, number] | null;
  /** Nuisance variation (table colour, light, camera jitter); null = the cell's default. */
  nuisance: boolean | null;
  /** Render shadows (CellConfig.shadows), for policies trained on shadowed data. */
  shadows: boolean;
  /** Start centred over x* instead of at the scenario's offset. */
  centredStart: boolean;
  out: string | null;
  progress: boolean;
  help: boolean;
}

export const DEFAULT_OUT = 'data/runs/eval.json';

export const USAGE = `Evaluate scripted controllers (and later policies) in the simulated insertion cell.

Usage: npx tsx src/cli/evaluate.ts [options]

  --controllers LIST     comma-separated controller names (default: the research's baselines per scenario:
                           I: ${BASELINES_SCENARIO_I.join(',')}
                           II: ${BASELINES_SCENARIO_II.join(',')})
  --connectors LIST      "all" (default) or comma-separated connector names
  --connector-dir DIR    directory of connector definition files (default: data/connectors)
  --scenario S           I, II, or I,II (default: I,II)
  --trials N             trials per connector and controller (default: 20)
  --episode-length N     control steps per episode (default: 20)
  --seed N               base seed (integer, default: 0)
  --goal-error-mm M      calibration error of the goal x*: M mm along (1,1,0)/sqrt2, the same for every trial
                         (default: 0); negative: --goal-error-mm=-1
  --goal-error-vec-mm X,Y[,Z]  the same error as a vector in mm instead (any direction)
  --goal-noise-mm S      per-episode error of x* in mm: uniform in +-S on each horizontal axis (default: 0)
  --centred-start        start every episode centred over x* (servoed there after the reset) instead of at
                         the scenario's offset; with an exact goal: the research's "centred start"
  --start-height-mm H    start height of the connector tip above the socket face in mm (default: the cell's)
  --image-size N         camera image size in px (default: 0 = no rendering for scripted controllers, which do not
                         look; with a learned controller, the daemon's rendered size)
  --policy FILE          the ONNX policy the 'policy' controller runs (default: models/policy.onnx)
  --localize-std-mm S    error std of the localize stand-in's socket estimate in mm (default: 1)
  --localize-bias-mm X,Y[,Z]  bias of that estimate in mm (default: 0,0)
  --nuisance / --no-nuisance  randomise table colour, lighting and camera pose per episode (default: the cell's)
  --shadows              render shadows (for a policy trained on data collected with --shadows)
  --out FILE             write the results as JSON (default: ${DEFAULT_OUT}; "-" for none)
  --no-progress          no progress bar on stderr
  --help                 this text

Controllers:
${[...CONTROLLER_NAMES, ...LEARNED_CONTROLLER_NAMES].map((n) => `  ${n.padEnd(14)} ${describeController(n)}`).join('\n')}
  (policy: the model's card says what input it needs; the camera renders at --image-size, default the daemon's
   config/daemon.yaml backend.sim.imageSize, and a size smaller than the card's input is refused)
`;

/** `--goal-error-mm M` or `--goal-error-vec-mm X,Y[,Z]` (core/goal-error.ts) as a vector in m. */
export function goalErrorArg(magnitude: string | undefined, vec: string | undefined): [number, number, number] {
  if (magnitude !== undefined && vec !== undefined) throw new UsageError('--goal-error-mm and --goal-error-vec-mm contradict each other: give one');
  if (vec !== undefined) return vecMm('--goal-error-vec-mm', vec);
  if (magnitude === undefined) return [0, 0, 0];
  return goalErrorVec(goalErrorMm('--goal-error-mm', magnitude, { single: true, max: 50 })[0] as number);
}

export function parseEvalArgs(argv: string[]): EvalArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        controllers: { type: 'string' },
        connectors: { type: 'string' },
        'connector-dir': { type: 'string' },
        scenario: { type: 'string' },
        trials: { type: 'string' },
        'episode-length': { type: 'string' },
        seed: { type: 'string' },
        'goal-error-mm': { type: 'string' },
        'goal-error-vec-mm': { type: 'string' },
        'goal-noise-mm': { type: 'string' },
        'start-height-mm': { type: 'string' },
        'image-size': { type: 'string' },
        policy: { type: 'string' },
        'localize-std-mm': { type: 'string' },
        'localize-bias-mm': { type: 'string' },
        nuisance: { type: 'boolean' },
        'no-nuisance': { type: 'boolean' },
        shadows: { type: 'boolean' },
        'centred-start': { type: 'boolean' },
        out: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
  const v = parsed.values;
  let controllers: string[] | null = null;
  if (v.controllers !== undefined) {
    controllers = list('--controllers', v.controllers);
    const bad = controllers.filter((c) => !isControllerName(c));
    if (bad.length) throw new UsageError(`--controllers: unknown controller(s) ${bad.map((b) => `"${b}"`).join(', ')}; known: ${CONTROLLER_NAMES.join(', ')}`);
  }
  let connectors: string[] | null = null;
  if (v.connectors !== undefined && v.connectors.trim() !== 'all') connectors = list('--connectors', v.connectors);
  let scenarios: Scenario[] = ['I', 'II'];
  if (v.scenario !== undefined) {
    const xs = list('--scenario', v.scenario);
    for (const x of xs) if (x !== 'I' && x !== 'II') throw new UsageError(`--scenario: expected I, II or I,II, got "${v.scenario}"`);
    scenarios = xs as Scenario[];
  }
  if (v.nuisance && v['no-nuisance']) throw new UsageError('--nuisance and --no-nuisance contradict each other');
  const seed = v.seed === undefined ? 0 : num('--seed', v.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed: must be an integer in [0, 2^32), got "${v.seed}"`);
  return {
    controllers,
    connectors,
    connectorDir: v['connector-dir'] ?? null,
    scenarios,
    trials: v.trials === undefined ? 20 : int('--trials', v.trials, 1, 100000),
    episodeLength: v['episode-length'] === undefined ? 20 : int('--episode-length', v['episode-length'], 1, 10000),
    seed,
    goalBias: goalErrorArg(v['goal-error-mm'], v['goal-error-vec-mm']),
    goalNoise: v['goal-noise-mm'] === undefined ? 0 : nonNegMm('--goal-noise-mm', v['goal-noise-mm'], 50),
    startHeight: v['start-height-mm'] === undefined ? null : nonNegMm('--start-height-mm', v['start-height-mm'], 150),
    imageSize: v['image-size'] === undefined ? null : v['image-size'].trim() === '0' ? 0 : int('--image-size', v['image-size'], 1, 512),
    policy: v.policy ?? 'models/policy.onnx',
    localizeStd: v['localize-std-mm'] === undefined ? null : nonNegMm('--localize-std-mm', v['localize-std-mm'], 50),
    localizeBias: v['localize-bias-mm'] === undefined ? null : vecMm('--localize-bias-mm', v['localize-bias-mm']),
    nuisance: v.nuisance ? true : v['no-nuisance'] ? false : null,
    shadows: v.shadows ?? false,
    centredStart: v['centred-start'] ?? false,
    out: v.out === undefined ? DEFAULT_OUT : v.out === '-' ? null : v.out,
    progress: !(v['no-progress'] ?? false),
    help: v.help ?? false,
  };
}
