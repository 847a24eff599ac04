/**
 * The fault campaign (issue 12): power loss, trainer faults, sensor faults, e-stop under load, the force limit, bad
 * input and (with --soak) a long soak; prints a table and writes the rows as JSON (results/campaign/campaign.json).
 *
 *   npm run campaign                    # the full campaign (100 kills, 10,000 requests, ...; tens of minutes)
 *   npm run campaign -- --quick         # the small version npm test runs (about 1.5 min)
 *   npm run campaign -- --kills 20 --requests 2000 --only power-loss,bad-input
 *   npm run campaign -- --soak [--soak-episodes 1000]   # the soak alone (hours at 10 Hz; free-running here)
 */
import { join, resolve } from 'node:path';
import { FULL, QUICK, ROWS, formatTable, rowOk, runCampaign, writeReport, type CampaignOptions, type RowName } from '../campaign/index.ts';
import { runIfMain, type Io, STDIO } from '../util/args.ts';
import { command, fromArgv, nameList, optionalText, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts); sizes default to the full campaign's, or --quick's. */
export const CAMPAIGN = command({
  name: 'campaign',
  usage: 'campaign [--quick] [flags]   (npm run campaign -- [flags])',
  flags: T.object({
    quick: T.boolean({ description: 'the small version (1 kill, 400 requests, 2 e-stops per source, ...), not strict about ticks' }),
    kills: T.optional(
      T.integer({ minimum: 0, maximum: 100_000, description: 'SIGKILLs of the daemon during practice', cli: { defaultText: `full ${FULL.kills}` } }),
    ),
    startTimeout: T.optional(
      T.integer({
        minimum: 1,
        maximum: 86_400,
        description: 'seconds a power-loss (re)start may take to print its API line',
        cli: { arg: 'S', defaultText: 'max(90, 15 x (1 + load per core)), re-read while waiting' },
      }),
    ),
    killMaxMinutes: T.optional(
      T.integer({
        minimum: 1,
        maximum: 100_000,
        description: 'stop the power-loss row after M minutes with the kills done so far (reported as stopped)',
        cli: { arg: 'M' },
      }),
    ),
    requests: T.optional(T.integer({ minimum: 1, maximum: 10_000_000, description: 'hostile HTTP requests', cli: { defaultText: `full ${FULL.requests}` } })),
    estopTrials: T.optional(
      T.integer({ minimum: 1, maximum: 10_000, description: 'e-stops per source (REST, robot) under load', cli: { defaultText: `full ${FULL.estopTrials}` } }),
    ),
    forceEpisodes: T.optional(
      T.integer({ minimum: 1, maximum: 10_000, description: 'episodes pushing into a blocked socket', cli: { defaultText: `full ${FULL.forceEpisodes}` } }),
    ),
    soak: T.boolean({ description: 'add the soak row (only it, unless --only says more)' }),
    soakEpisodes: T.optional(T.integer({ minimum: 1, maximum: 1_000_000, description: 'episodes of the soak', cli: { defaultText: '1000' } })),
    soakRealtime: T.boolean({ description: 'the soak on the control thread at 10 Hz, as npm start runs (default: free-running in process)' }),
    soakMaxMinutes: T.optional(
      T.integer({ minimum: 1, maximum: 100_000, description: 'stop the soak after M minutes with the episodes done so far', cli: { arg: 'M' } }),
    ),
    only: nameList(`only these rows: ${ROWS.join(', ')}`, 'all but the soak', 'ROWS'),
    seed: T.optional(
      T.integer({ minimum: 0, maximum: 2 ** 31, description: 'seed of the kill moments, e-stop phases and requests', cli: { defaultText: String(FULL.seed) } }),
    ),
    trainer: T.boolean({ default: true, description: 'no background trainer in the power-loss and e-stop rows', cli: { flag: '--no-trainer', sets: false } }),
    inProcess: T.boolean({
      description: 'the trainer and e-stop rows on the in-process loop (default: full on the control thread, as npm start runs it; quick in process)',
    }),
    controlThread: T.boolean({ description: 'the trainer and e-stop rows on the control thread' }),
    strictTicks: T.boolean({ description: 'missed control ticks and late e-stops fail their rows (default: full yes, quick no)' }),
    noStrictTicks: T.boolean({ description: 'they do not' }),
    out: optionalText('results directory', 'DIR', 'results/campaign'),
    keep: T.boolean({ description: 'keep the work files (logs, models) and say where' }),
  }),
});

export async function main(argv: string[], io: Io = STDIO): Promise<number> {
  const o = fromArgv(
    CAMPAIGN,
    argv,
    (a): CampaignOptions => {
      if (a.strictTicks && a.noStrictTicks) throw new UsageError('--strict-ticks and --no-strict-ticks contradict each other');
      if (a.inProcess && a.controlThread) throw new UsageError('--in-process and --control-thread contradict each other');
      const base = { ...(a.quick ? QUICK : FULL) };
      base.kills = a.kills ?? base.kills;
      base.requests = a.requests ?? base.requests;
      base.estopTrials = a.estopTrials ?? base.estopTrials;
      base.forceEpisodes = a.forceEpisodes ?? base.forceEpisodes;
      base.soakEpisodes = a.soakEpisodes ?? base.soakEpisodes;
      base.seed = a.seed ?? base.seed;
      base.soakRealtime = a.soakRealtime || base.soakRealtime;
      base.soakMaxMinutes = a.soakMaxMinutes ?? base.soakMaxMinutes;
      base.controlThread = a.inProcess ? false : a.controlThread ? true : base.controlThread;
      base.trainer = a.trainer && base.trainer;
      base.strictTicks = a.strictTicks ? true : a.noStrictTicks ? false : base.strictTicks;
      base.keep = a.keep || base.keep;
      const bad = (a.only ?? []).filter((r) => !(ROWS as readonly string[]).includes(r));
      if (bad.length) throw new UsageError(`--only: unknown row(s) ${bad.join(', ')} (rows: ${ROWS.join(', ')})`);
      let only = (a.only as RowName[] | undefined) ?? null;
      if (a.soak) {
        base.soakEpisodes ||= 1000;
        only = only ? [...only, 'soak'] : ['soak'];
      } else if (base.soakEpisodes > 0 && !only) only = [...ROWS];
      const out = a.out === undefined ? resolve(import.meta.dirname, '../../results/campaign') : resolve(a.out);
      return {
        ...base,
        ...(a.killMaxMinutes !== undefined ? { killMaxMinutes: a.killMaxMinutes } : {}),
        ...(a.startTimeout !== undefined ? { startTimeoutMs: a.startTimeout * 1000 } : {}),
        only,
        out,
        log: (s) => io.out(`${s}\n`),
      };
    },
    io,
  );
  if (typeof o === 'number') return o;
  const rows = await runCampaign(o);
  const file = join(o.out, o.only?.length === 1 && o.only[0] === 'soak' ? 'soak-campaign.json' : 'campaign.json');
  writeReport(file, rows, { ...o, log: undefined });
  io.out(`\n${formatTable(rows)}\nwritten: ${file}\n`);
  return rows.every(rowOk) ? 0 : 1;
}

runIfMain(import.meta.url, 'campaign', () => main(process.argv.slice(2)), { exit: true });
