/**
 * Command-line evaluation of controllers in the simulated cell: prints success tables like the research's
 * tables 5 and 6 and writes every trial as JSON. `--help` for the options.
 *
 *   npx tsx src/cli/evaluate.ts --controllers straight,p,spiral --connectors all --scenario I --trials 20 \
 *       --goal-error-mm 1.5 --goal-noise-mm 1 --seed 0 --out data/runs/eval.json
 *
 * Exit codes: 0 done, 2 bad arguments or connector files, 1 anything else.
 */
import type { Scenario } from '../core/types.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { progressBar } from './progress.ts';
import {
  BASELINES_SCENARIO_I,
  BASELINES_SCENARIO_II,
  LEARNED_CONTROLLER_NAMES,
  createController,
  needsPrivileged,
  type ControllerOverrides,
} from '../control/registry.ts';
import { loadDaemonConfig } from '../config/load.ts';
import { cardPathFor, readCard } from '../policy/card.ts';
import { inputSpecOf } from '../policy/inputs.ts';

const DEFAULT_DAEMON_CONFIG = 'config/daemon.yaml';
import { EVALUATE, UsageError, evalArgsOf, type EvalArgs } from './evaluate-args.ts';
import { fromArgv } from './flags.ts';
import { evaluate, formatTable, type ControllerSpec, type EvalProgress, type EvalResult } from '../eval/evaluate.ts';
import { simCellFactory, selectConnectors } from '../eval/sim-cells.ts';
import { runIfMain } from '../util/args.ts';

export interface EvalReport {
  tool: 'evaluate';
  createdAt: string;
  argv: string[];
  args: EvalArgs;
  results: EvalResult[];
}

function controllerSpecs(names: readonly string[], args: EvalArgs): ControllerSpec[] {
  const overrides: ControllerOverrides = {};
  if (args.localizeStd !== null || args.localizeBias !== null) {
    overrides.localize = {};
    if (args.localizeStd !== null) overrides.localize.errorStd = args.localizeStd;
    if (args.localizeBias !== null) overrides.localize.errorBias = args.localizeBias;
  }
  if (names.includes('policy')) overrides.policy = { modelPath: args.policy };
  return names.map((name) => ({ name, make: () => createController(name, overrides), privileged: needsPrivileged(name) }));
}

/**
 * The camera size to render: scripted controllers need none; a learned one is fed what its card asks for, made from
 * the frame the daemon would log (its config's rendered size unless --image-size says otherwise), or refused.
 */
export function renderedSize(args: EvalArgs): number {
  const names = args.controllers ?? [];
  if (!names.some((n) => LEARNED_CONTROLLER_NAMES.includes(n))) return args.imageSize ?? 0;
  const spec = inputSpecOf(readCard(cardPathFor(args.policy)), args.policy);
  const daemonSize = loadDaemonConfig(DEFAULT_DAEMON_CONFIG).backend.sim.imageSize;
  const size = args.imageSize ?? daemonSize;
  if (spec.image && (size < spec.image.width || size < spec.image.height)) {
    throw new UsageError(
      `--image-size ${size}: ${args.policy} needs a ${spec.image.width}x${spec.image.height} image (its card); render at least that (the daemon renders ${daemonSize})`,
    );
  }
  return size;
}

/** Run the evaluation described by `args`; tables go to `out`, progress to stderr. */
export async function runEvaluation(args: EvalArgs, argv: string[], out: (s: string) => void = console.log): Promise<EvalReport> {
  const defs = selectConnectors(args.connectorDir, args.connectors);
  const connectors = defs.map((d) => d.name);
  const imageSize = renderedSize(args);
  const createCell = simCellFactory(defs, {
    goalBias: args.goalBias,
    goalNoise: args.goalNoise,
    imageSize,
    ...(args.nuisance !== null ? { nuisance: args.nuisance } : {}),
    shadows: args.shadows,
    ...(args.startHeight !== null ? { startHeight: args.startHeight } : {}),
  });
  const plan = args.scenarios.map((scenario: Scenario) => ({
    scenario,
    controllers: args.controllers ?? [...(scenario === 'I' ? BASELINES_SCENARIO_I : BASELINES_SCENARIO_II)],
  }));
  const total = plan.reduce((a, p) => a + p.controllers.length * connectors.length * args.trials, 0);

  const bar = progressBar(args.progress, 'evaluate |{bar}| {value}/{total} episodes | ETA {eta_formatted} | {scenario} {connector} {controller}', 200);
  bar?.start(total, 0, { scenario: '', connector: '', controller: '' });
  let base = 0;
  let lastConnector = '';
  const results: EvalResult[] = [];
  const createdAt = new Date().toISOString();
  // Rewritten after every scenario, so an interrupted run keeps what it finished.
  const save = (): EvalReport => {
    const report: EvalReport = { tool: 'evaluate', createdAt, argv, args, results };
    if (args.out !== null) {
      const file = resolve(args.out);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(report, null, 1) + '\n');
    }
    return report;
  };
  try {
    for (const p of plan) {
      const onProgress = (e: EvalProgress): void => {
        if (bar) bar.update(base + e.done, { scenario: `scenario ${p.scenario}`, connector: e.connector, controller: e.controller });
        else if (args.progress && e.connector !== lastConnector) {
          process.stderr.write(`evaluate: scenario ${p.scenario}, ${e.connector} (${base + e.done}/${total} episodes)\n`);
        }
        lastConnector = e.connector;
      };
      const r = await evaluate({
        controllers: controllerSpecs(p.controllers, args),
        connectors,
        scenario: p.scenario,
        createCell,
        trials: args.trials,
        episodeLength: args.episodeLength,
        seed: args.seed,
        centredStart: args.centredStart,
        onProgress,
        settings: {
          goalBiasMm: args.goalBias.map((v) => v * 1000),
          goalNoiseMm: args.goalNoise * 1000,
          startHeightMm: args.startHeight === null ? 'cell default' : args.startHeight * 1000,
          imageSize,
          localizeStdMm: args.localizeStd === null ? 'default' : args.localizeStd * 1000,
          localizeBiasMm: args.localizeBias === null ? 'default' : args.localizeBias.map((v) => v * 1000),
          nuisance: args.nuisance ?? 'cell default',
          shadows: args.shadows,
          centredStart: args.centredStart,
        },
      });
      base += p.controllers.length * connectors.length * args.trials;
      results.push(r);
      save();
      bar?.stop();
      const goal = `goal error: bias (${args.goalBias.map((v) => +(v * 1000).toFixed(3)).join(', ')}) mm, noise ${+(args.goalNoise * 1000).toFixed(3)} mm`;
      out(`\n${formatTable(r)}\n${goal}; ${r.elapsedS.toFixed(1)} s\n`);
      if (bar && p !== plan[plan.length - 1]) bar.start(total, base, { scenario: '', connector: '', controller: '' });
    }
  } finally {
    bar?.stop();
  }
  const report = save();
  if (args.out !== null) out(`results written to ${resolve(args.out)}`);
  return report;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = fromArgv(EVALUATE, argv, (_, p) => evalArgsOf(p));
  if (typeof args === 'number') return args;
  try {
    await runEvaluation(args, argv);
    return 0;
  } catch (e) {
    const err = e as Error;
    if (e instanceof UsageError || err.name === 'ConnectorError') {
      process.stderr.write(`evaluate: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`evaluate: ${err.stack ?? err.message}\n`);
    return 1;
  }
}

runIfMain(import.meta.url, 'evaluate', main);
