/**
 * Command-line options of the evaluation (src/cli/evaluate.ts), declared as a flag table (src/cli/flags.ts) and parsed
 * without side effects so that errors can be tested: every bad value gives a message naming the flag and the value.
 */
import {
  BASELINES_SCENARIO_I,
  BASELINES_SCENARIO_II,
  CONTROLLER_NAMES,
  LEARNED_CONTROLLER_NAMES,
  describeController,
  isControllerName,
} from '../control/registry.ts';
import { goalErrorVec } from '../core/goal-error.ts';
import { goalErrorMm, vecMm } from '../util/args.ts';
import { command, commandUsage, nameList, optionalText, parseCommand, type Parsed, T, UsageError } from './flags.ts';
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

/** The command line, declared once (src/cli/flags.ts). */
export const EVALUATE = command({
  name: 'evaluate',
  usage: 'npx tsx src/cli/evaluate.ts [flags]   (npm run eval -- [flags])',
  about: "Evaluate controllers (scripted, and the learned policy) in the simulated insertion cell under the daemon's step limit.",
  notes: `Controllers:
${[...CONTROLLER_NAMES, ...LEARNED_CONTROLLER_NAMES].map((n) => `  ${n.padEnd(14)} ${describeController(n)}`).join('\n')}
  (policy: the model's card says what input it needs; the camera renders at --image-size, default the daemon's
   config/daemon.yaml backend.sim.imageSize, and a size smaller than the card's input is refused)
Without --controllers, the research's baselines per scenario: I: ${BASELINES_SCENARIO_I.join(',')}; II: ${BASELINES_SCENARIO_II.join(',')}`,
  flags: T.object({
    controllers: nameList('controller names (below)', "the research's baselines per scenario"),
    connectors: nameList('"all" or connector names', 'all'),
    connectorDir: optionalText('directory of connector definition files', 'DIR', 'data/connectors'),
    scenario: T.array(T.enum(['I', 'II']), { uniqueItems: true, default: ['I', 'II'], description: 'start distributions' }),
    trials: T.integer({ minimum: 1, maximum: 100000, default: 20, description: 'trials per connector and controller' }),
    episodeLength: T.integer({ minimum: 1, maximum: 10000, default: 20, description: 'control steps per episode' }),
    seed: T.integer({ minimum: 0, maximum: 0xffffffff, default: 0, description: 'base seed' }),
    ...goalErrorFlags('calibration error of the goal x*, the same for every trial'),
    goalNoiseMm: T.number({
      minimum: 0,
      maximum: 50,
      default: 0,
      description: 'per-episode error of x* in mm: uniform in +-S on each horizontal axis',
      cli: { arg: 'S' },
    }),
    centredStart: T.boolean({
      description:
        'start every episode centred over x* (servoed there after the reset) instead of at the scenario\'s offset; with an exact goal: the research\'s "centred start"',
    }),
    startHeightMm: T.optional(
      T.number({
        minimum: 0,
        maximum: 150,
        description: 'start height of the connector tip above the socket face in mm',
        cli: { arg: 'H', defaultText: "the cell's" },
      }),
    ),
    imageSize: T.optional(
      T.integer({
        minimum: 0,
        maximum: 512,
        description: "camera image size in px (0 = no rendering: scripted controllers do not look; with a learned controller, the daemon's rendered size)",
        cli: { defaultText: '0 for scripted controllers' },
      }),
    ),
    policy: T.string({ minLength: 1, default: 'models/policy.onnx', description: "the ONNX policy the 'policy' controller runs", cli: { arg: 'FILE' } }),
    localizeStdMm: T.optional(
      T.number({ minimum: 0, maximum: 50, description: "error std of the localize stand-in's socket estimate in mm", cli: { arg: 'S', defaultText: '1' } }),
    ),
    localizeBiasMm: T.optional(T.string({ description: 'bias of that estimate in mm', cli: { arg: 'X,Y[,Z]', defaultText: '0,0' } })),
    nuisance: T.boolean({ description: "randomise table colour, lighting and camera pose per episode (default: the cell's)" }),
    noNuisance: T.boolean({ description: 'no such randomisation' }),
    shadows: T.boolean({ description: 'render shadows (for a policy trained on data collected with --shadows)' }),
    out: T.string({ minLength: 1, default: DEFAULT_OUT, description: 'write the results as JSON ("-" for none)', cli: { arg: 'FILE' } }),
    progress: T.boolean({ default: true, description: 'no progress bar on stderr', cli: { flag: '--no-progress', sets: false } }),
  }),
});

export const USAGE = `${commandUsage(EVALUATE)}\n`;

/**
 * The x* calibration error's two flags (core/goal-error.ts), one name and one meaning in every command that takes it:
 * `--goal-error-mm M` along (1,1,0)/sqrt2, or `--goal-error-vec-mm X,Y[,Z]`; goalErrorArg reads them.
 */
export function goalErrorFlags(what: string) {
  return {
    goalErrorMm: optionalText(`${what}: M mm along (1,1,0)/sqrt2`, 'M', '0'),
    goalErrorVecMm: optionalText('the same error as a vector in mm instead (any direction)', 'X,Y[,Z]', 'none'),
  };
}

/** `--goal-error-mm M` or `--goal-error-vec-mm X,Y[,Z]` (core/goal-error.ts) as a vector in m. */
export function goalErrorArg(magnitude: string | undefined, vec: string | undefined): [number, number, number] {
  if (magnitude !== undefined && vec !== undefined) throw new UsageError('--goal-error-mm and --goal-error-vec-mm contradict each other: give one');
  if (vec !== undefined) return vecMm('--goal-error-vec-mm', vec);
  if (magnitude === undefined) return [0, 0, 0];
  return goalErrorVec(goalErrorMm('--goal-error-mm', magnitude, { single: true, max: 50 })[0] as number);
}

export function parseEvalArgs(argv: string[]): EvalArgs {
  return evalArgsOf(parseCommand(EVALUATE, argv));
}

/** The evaluation's settings from its parsed flags (mm to m, names checked). */
export function evalArgsOf({ values: v, help }: Parsed<typeof EVALUATE.flags>): EvalArgs {
  let controllers: string[] | null = null;
  if (v.controllers !== undefined) {
    controllers = v.controllers;
    const bad = controllers.filter((c) => !isControllerName(c));
    if (bad.length) throw new UsageError(`--controllers: unknown controller(s) ${bad.map((b) => `"${b}"`).join(', ')}; known: ${CONTROLLER_NAMES.join(', ')}`);
  }
  const connectors = v.connectors === undefined || (v.connectors.length === 1 && v.connectors[0] === 'all') ? null : v.connectors;
  if (v.nuisance && v.noNuisance) throw new UsageError('--nuisance and --no-nuisance contradict each other');
  return {
    controllers,
    connectors,
    connectorDir: v.connectorDir ?? null,
    scenarios: v.scenario,
    trials: v.trials,
    episodeLength: v.episodeLength,
    seed: v.seed,
    goalBias: goalErrorArg(v.goalErrorMm, v.goalErrorVecMm),
    goalNoise: v.goalNoiseMm / 1000,
    startHeight: v.startHeightMm === undefined ? null : v.startHeightMm / 1000,
    imageSize: v.imageSize ?? null,
    policy: v.policy,
    localizeStd: v.localizeStdMm === undefined ? null : v.localizeStdMm / 1000,
    localizeBias: v.localizeBiasMm === undefined ? null : vecMm('--localize-bias-mm', v.localizeBiasMm),
    nuisance: v.nuisance ? true : v.noNuisance ? false : null,
    shadows: v.shadows,
    centredStart: v.centredStart,
    out: v.out === '-' ? null : v.out,
    progress: v.progress,
    help,
  };
}
