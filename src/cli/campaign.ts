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
import { int, list, runIfMain, UsageError, type Io, STDIO } from '../util/args.ts';

const USAGE = `usage: campaign [--quick] [flags]   (npm run campaign -- [flags])
  --quick               the small version (1 kill, 400 requests, 2 e-stops per source, ...), not strict about ticks
  --kills N             SIGKILLs of the daemon during practice (full: ${FULL.kills})
  --requests N          hostile HTTP requests (full: ${FULL.requests})
  --estop-trials N      e-stops per source (REST, robot) under load (full: ${FULL.estopTrials})
  --force-episodes N    episodes pushing into a blocked socket (full: ${FULL.forceEpisodes})
  --soak                add the soak row (only it, unless --only says more)
  --soak-episodes N     episodes of the soak (default 1000)
  --soak-realtime       the soak on the control thread at 10 Hz, as npm start runs (default: free-running in process)
  --soak-max-minutes M  stop the soak after M minutes with the episodes done so far
  --only ROWS           comma list of ${ROWS.join(', ')}
  --seed N              seed of the kill moments, e-stop phases and requests (default ${FULL.seed})
  --no-trainer          no background trainer in the power-loss and e-stop rows
  --in-process / --control-thread   the trainer and e-stop rows on the in-process loop or the control thread
                        (default: full on the control thread, as npm start runs it; quick in process)
  --strict-ticks / --no-strict-ticks   missed control ticks and late e-stops fail their rows (default: full yes, quick no)
  --out DIR             results directory (default results/campaign)
  --keep                keep the work files (logs, models) and say where
  -h, --help            this text`;

export async function main(argv: string[], io: Io = STDIO): Promise<number> {
  let o: CampaignOptions;
  try {
    const quick = argv.includes('--quick');
    const base = { ...(quick ? QUICK : FULL) };
    let out = resolve(import.meta.dirname, '../../results/campaign');
    let soakOnly = false;
    let only: RowName[] | null = null;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      const v = (): string => {
        const x = argv[++i];
        if (x === undefined) throw new UsageError(`${a} needs a value`);
        return x;
      };
      if (a === '-h' || a === '--help') {
        io.out(`${USAGE}\n`);
        return 0;
      } else if (a === '--quick') continue;
      else if (a === '--kills') base.kills = int(a, v(), 0, 100_000);
      else if (a === '--requests') base.requests = int(a, v(), 1, 10_000_000);
      else if (a === '--estop-trials') base.estopTrials = int(a, v(), 1, 10_000);
      else if (a === '--force-episodes') base.forceEpisodes = int(a, v(), 1, 10_000);
      else if (a === '--soak') soakOnly = true;
      else if (a === '--soak-episodes') base.soakEpisodes = int(a, v(), 1, 1_000_000);
      else if (a === '--soak-realtime') base.soakRealtime = true;
      else if (a === '--soak-max-minutes') base.soakMaxMinutes = int(a, v(), 1, 100_000);
      else if (a === '--seed') base.seed = int(a, v(), 0, 2 ** 31);
      else if (a === '--no-trainer') base.trainer = false;
      else if (a === '--in-process') base.controlThread = false;
      else if (a === '--control-thread') base.controlThread = true;
      else if (a === '--strict-ticks') base.strictTicks = true;
      else if (a === '--no-strict-ticks') base.strictTicks = false;
      else if (a === '--keep') base.keep = true;
      else if (a === '--out') out = resolve(v());
      else if (a === '--only') {
        only = list(a, v()) as RowName[];
        const bad = only.filter((r) => !(ROWS as readonly string[]).includes(r));
        if (bad.length) throw new UsageError(`--only: unknown row(s) ${bad.join(', ')} (rows: ${ROWS.join(', ')})`);
      } else throw new UsageError(`unknown flag ${a}`);
    }
    if (soakOnly) {
      base.soakEpisodes ||= 1000;
      only = only ? [...only, 'soak'] : ['soak'];
    } else if (base.soakEpisodes > 0 && !only) only = [...ROWS];
    o = { ...base, only, out, log: (s) => io.out(`${s}\n`) };
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`campaign: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  const rows = await runCampaign(o);
  const file = join(o.out, o.only?.length === 1 && o.only[0] === 'soak' ? 'soak-campaign.json' : 'campaign.json');
  writeReport(file, rows, { ...o, log: undefined });
  io.out(`\n${formatTable(rows)}\nwritten: ${file}\n`);
  return rows.every(rowOk) ? 0 : 1;
}

runIfMain(import.meta.url, 'campaign', () => main(process.argv.slice(2)), { exit: true });
