/**
 * Replay a logged session in the simulated cell (src/replay/README.md).
 *
 *   npx tsx src/cli/replay.ts --db data/daemon.db --session 3 --mode open-loop
 *   npx tsx src/cli/replay.ts --db data/daemon.db --session 3 --mode closed-loop --policy p-only --reward models/reward.onnx
 *   npx tsx src/cli/replay.ts --db robot.db --session 1 --mode open-loop --map-connector usb-c=square16 --goal-error-mm 0,0,0
 *
 * Prints the per-episode comparison, the overall figures and the reward audit; --out writes the result document (JSON).
 * Exit codes: 0 done, 2 bad arguments or an unreplayable session (the message says what is missing), 1 a failure.
 */
import { writeFileSync } from 'node:fs';
import { formatAudit } from '../replay/audit.ts';
import { formatComparison } from '../replay/compare.ts';
import { ReplayArgError, runReplay, type ReplayOptions, type ReplayResult } from '../replay/run.ts';
import { parseConnectorMap, ReplaySourceError } from '../replay/source.ts';
import { StoreOpenError } from '../store/index.ts';
import type { Vec3 } from '../core/types.ts';
import { int, list, num, runIfMain, UsageError } from '../util/args.ts';

export const USAGE = `usage: replay --db FILE --session ID [--episodes 4,5,6] --mode open-loop|closed-loop
  [--policy VERSION|FILE.onnx|p-only|baseline:NAME]
                                        closed loop: what drives (a policy version registered in the log, an .onnx file,
                                        the P-controller alone, or a scripted baseline such as baseline:loc-spiral)
  [--reward VERSION|FILE.onnx]          reward classifier for the audit, run on the replayed frames
  [--out-db FILE]                       where the replay's session is written (default: the source --db)
  [--map-connector logged=defined,...]  replay a connector the simulator does not define as one it does
  [--goal-error-mm x,y,z]               x* calibration error assumed where the log cannot tell (real robot; default 0,0,0)
  [--divergence-mm 1] [--divergence-n 5] thresholds of "the trajectories part"
  [--config FILE] [--calibration DIR]   settings for sessions without a daemon snapshot (default config/, calibration/)
  [--out result.json] [--quiet]`;

const VALUE = new Set([
  'db',
  'session',
  'episodes',
  'mode',
  'policy',
  'reward',
  'out-db',
  'map-connector',
  'goal-error-mm',
  'divergence-mm',
  'divergence-n',
  'config',
  'calibration',
  'out',
]);
const FLAG = new Set(['quiet', 'help']);

function parse(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    const [k, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (FLAG.has(k)) m.set(k, 'true');
    else if (VALUE.has(k)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`--${k} needs a value`);
      m.set(k, v);
    } else throw new UsageError(`unknown option --${k}`);
  }
  return m;
}

export function optionsFrom(argv: string[]): (ReplayOptions & { out?: string; quiet: boolean }) | 'help' {
  const a = parse(argv);
  if (a.has('help')) return 'help';
  const db = a.get('db');
  if (!db) throw new UsageError('--db is required');
  const session = a.get('session');
  if (!session) throw new UsageError('--session is required');
  const mode = a.get('mode');
  if (mode !== 'open-loop' && mode !== 'closed-loop') throw new UsageError(`--mode must be open-loop or closed-loop, got ${JSON.stringify(mode ?? '')}`);
  const goal = a.get('goal-error-mm');
  let goalError: Vec3 | undefined;
  if (goal !== undefined) {
    const xs = goal.split(',').map((x) => num('--goal-error-mm', x) / 1000);
    if (xs.length !== 3) throw new UsageError(`--goal-error-mm: three numbers x,y,z (mm), got "${goal}"`);
    goalError = xs as Vec3;
  }
  const o: ReplayOptions & { out?: string; quiet: boolean } = {
    db,
    sessionId: int('--session', session, 1, Number.MAX_SAFE_INTEGER),
    mode,
    quiet: a.has('quiet'),
    thresholds: {
      ...(a.has('divergence-mm') ? { divergenceMm: num('--divergence-mm', a.get('divergence-mm')!) } : {}),
      ...(a.has('divergence-n') ? { divergenceN: num('--divergence-n', a.get('divergence-n')!) } : {}),
    },
  };
  if (a.has('episodes')) o.episodes = list('--episodes', a.get('episodes')!).map((x) => int('--episodes', x, 1, Number.MAX_SAFE_INTEGER));
  if (a.has('policy')) o.policy = a.get('policy')!;
  if (a.has('reward')) o.reward = a.get('reward')!;
  if (a.has('out-db')) o.outDb = a.get('out-db')!;
  if (a.has('map-connector')) o.mapConnector = parseConnectorMap(a.get('map-connector')!);
  if (goalError) o.goalError = goalError;
  if (a.has('config')) o.configFile = a.get('config')!;
  if (a.has('calibration')) o.calibrationDir = a.get('calibration')!;
  if (a.has('out')) o.out = a.get('out')!;
  return o;
}

export function formatResult(r: ReplayResult): string {
  const lines = [
    `replay ${r.mode} of session ${r.source.sessionId} (${r.source.backend}, ${r.source.episodes} episodes) from ${r.source.db}` +
      `${r.policy ? `, policy ${r.policy}` : ''}${r.reward ? `, reward ${r.reward}` : ''}: written as session ${r.out.sessionId} of ${r.out.db}`,
    formatComparison(r.episodes, r.overall),
  ];
  if (r.audit) lines.push(formatAudit(r.audit));
  lines.push(`speed: ${r.speed.controlSteps} simulated steps in ${r.speed.seconds.toFixed(2)} s (${r.speed.stepsPerSecond.toFixed(0)} steps/s)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof optionsFrom>;
  try {
    o = optionsFrom(argv);
  } catch (e) {
    console.error(`replay: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (o === 'help') {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  let r: ReplayResult;
  try {
    r = await runReplay({
      ...opts,
      onProgress: (p) => {
        if (!opts.quiet)
          console.error(
            `replay: ${p.done}/${p.total} episode ${p.last?.sourceEpisodeId}: ${p.last?.replay.outcome}${p.last?.sameOutcome ? '' : ' (differs from the log)'}`,
          );
      },
    });
  } catch (e) {
    const known = e instanceof ReplaySourceError || e instanceof ReplayArgError || e instanceof StoreOpenError || e instanceof UsageError;
    console.error(`replay: ${known ? e.message : ((e as Error).stack ?? String(e))}`);
    return known ? 2 : 1;
  }
  console.log(formatResult(r));
  if (opts.out) {
    writeFileSync(opts.out, `${JSON.stringify(r, null, 2)}\n`);
    console.log(`written to ${opts.out}`);
  }
  return 0;
}

runIfMain(import.meta.url, 'replay', () => main(process.argv.slice(2)), { exit: true });
