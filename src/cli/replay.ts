/**
 * Replay a logged session in the simulated cell (src/replay/README.md).
 *
 *   npx tsx src/cli/replay.ts --db data/daemon.db --session 3 --mode open-loop
 *   npx tsx src/cli/replay.ts --db data/daemon.db --session 3 --mode closed-loop --policy p-only --reward models/reward.onnx
 *   npx tsx src/cli/replay.ts --db robot.db --session 1 --mode open-loop --map-connector usb-c=square16 --goal-error-vec-mm 0,0,0
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
import { runIfMain } from '../util/args.ts';
import { goalErrorArg, goalErrorFlags } from './evaluate-args.ts';
import { command, commandUsage, optionalText, parseCommand, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const REPLAY = command({
  name: 'replay',
  usage: 'npx tsx src/cli/replay.ts --db FILE --session ID --mode open-loop|closed-loop [flags]',
  about: 'Replay a logged session in the simulated cell through the daemon, compare step by step, audit the reward (src/replay/README.md).',
  notes: 'exit codes: 0 done, 2 bad arguments or an unreplayable session (the message says what is missing), 1 a failure',
  flags: T.object({
    db: T.string({ minLength: 1, description: 'the log holding the session', cli: { arg: 'FILE' } }),
    session: T.integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the session replayed', cli: { arg: 'ID' } }),
    episodes: T.optional(
      T.array(T.integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), {
        uniqueItems: true,
        description: 'only these episodes',
        cli: { arg: 'ID,ID,...', defaultText: 'all' },
      }),
    ),
    mode: T.enum(['open-loop', 'closed-loop'], { description: 'open loop: the logged actions; closed loop: a policy drives' }),
    policy: optionalText(
      'closed loop: what drives (a policy version registered in the log, an .onnx file, the P-controller alone, or a scripted baseline such as baseline:loc-spiral)',
      'VERSION|FILE.onnx|p-only|baseline:NAME',
      'the logged policy',
    ),
    reward: optionalText('reward classifier for the audit, run on the replayed frames', 'VERSION|FILE.onnx', 'none'),
    outDb: optionalText("where the replay's session is written", 'FILE', 'the source --db'),
    mapConnector: T.optional(
      T.string({ description: 'replay a connector the simulator does not define as one it does', cli: { arg: 'logged=defined,...', defaultText: 'none' } }),
    ),
    ...goalErrorFlags('x* calibration error assumed where the log cannot tell (real robot)'),
    divergenceMm: T.optional(
      T.number({ minimum: 0, description: 'the trajectories part beyond this distance (mm) ...', cli: { arg: 'MM', defaultText: '1' } }),
    ),
    divergenceN: T.optional(T.integer({ minimum: 1, description: '... for this many steps in a row', cli: { defaultText: '5' } })),
    config: optionalText('daemon config for sessions without a daemon snapshot', 'FILE', 'config/daemon.yaml'),
    calibration: optionalText('calibration for sessions without a daemon snapshot', 'DIR', 'calibration/'),
    out: optionalText('the result document (JSON)', 'FILE', 'none'),
    quiet: T.boolean({ description: 'no progress lines' }),
  }),
});
export const USAGE = commandUsage(REPLAY);

export function optionsFrom(argv: string[]): (ReplayOptions & { out?: string; quiet: boolean }) | 'help' {
  const { values: a, help } = parseCommand(REPLAY, argv);
  if (help) return 'help';
  const o: ReplayOptions & { out?: string; quiet: boolean } = {
    db: a.db,
    sessionId: a.session,
    mode: a.mode,
    quiet: a.quiet,
    thresholds: {
      ...(a.divergenceMm !== undefined ? { divergenceMm: a.divergenceMm } : {}),
      ...(a.divergenceN !== undefined ? { divergenceN: a.divergenceN } : {}),
    },
  };
  if (a.episodes) o.episodes = a.episodes;
  if (a.policy !== undefined) o.policy = a.policy;
  if (a.reward !== undefined) o.reward = a.reward;
  if (a.outDb !== undefined) o.outDb = a.outDb;
  if (a.mapConnector !== undefined) o.mapConnector = parseConnectorMap(a.mapConnector);
  if (a.goalErrorMm !== undefined || a.goalErrorVecMm !== undefined) o.goalError = goalErrorArg(a.goalErrorMm, a.goalErrorVecMm);
  if (a.config !== undefined) o.configFile = a.config;
  if (a.calibration !== undefined) o.calibrationDir = a.calibration;
  if (a.out !== undefined) o.out = a.out;
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
    console.error(`replay: ${(e as Error).message}`);
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
