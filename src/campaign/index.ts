/**
 * The fault campaign (issue 12): one function that runs every row and returns them; src/cli/campaign.ts prints the
 * table and writes the JSON, test/campaign/ runs the quick version inside npm test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badInput } from './bad-input.ts';
import { estopUnderLoad } from './estop-load.ts';
import { forceLimit } from './force-limit.ts';
import { powerLoss } from './power-loss.ts';
import type { Row } from './report.ts';
import { sensorFaults } from './sensor-faults.ts';
import { soak } from './soak.ts';
import { trainerFaults } from './trainer-faults.ts';

export { formatTable, rowOk, writeReport, type Row } from './report.ts';

export const ROWS = ['power-loss', 'trainer', 'sensors', 'estop', 'force', 'bad-input', 'soak'] as const;
export type RowName = (typeof ROWS)[number];

export interface CampaignOptions {
  kills: number;
  /** Kill moments are uniform in [0.3 s, killMaxMs] after practice starts. */
  killMaxMs: number;
  /** A fixed limit for a power-loss (re)start to print its API line; default: one that follows the load (startLimitMs). */
  startTimeoutMs?: number;
  /** Stop the power-loss row after this many minutes with the kills done so far (marked as stopped). */
  killMaxMinutes?: number;
  requests: number;
  estopTrials: number;
  forceEpisodes: number;
  /** 0: no soak. */
  soakEpisodes: number;
  /** The soak on the control thread at 10 Hz (the product) rather than free-running in process. */
  soakRealtime?: boolean;
  /** Stop the soak after this many minutes with what it has. */
  soakMaxMinutes?: number;
  seed: number;
  /** Missed control ticks and late e-stops fail their rows (they depend on the loop's own thread). */
  strictTicks: boolean;
  /** Concurrency of the API load process in the e-stop row. */
  loadConcurrency: number;
  /** Start the trainer in the power-loss and e-stop rows. */
  trainer: boolean;
  /** The trainer and e-stop rows (the ones that count missed ticks) on the control thread, as npm start runs the loop;
   *  false: the in-process loop of the campaign rig. (Sensor and force rows drive the cell tick by tick in process.) */
  controlThread: boolean;
  only: readonly RowName[] | null;
  /** Where the soak's plot goes. */
  out: string;
  keep: boolean;
  log: (s: string) => void;
}

/** The full campaign as the issue asks for it (soak separate: --soak). */
export const FULL: Omit<CampaignOptions, 'out' | 'log'> = {
  kills: 100,
  killMaxMs: 6000,
  requests: 10_000,
  estopTrials: 20,
  forceEpisodes: 10,
  soakEpisodes: 0,
  seed: 12,
  strictTicks: true,
  loadConcurrency: 16,
  trainer: true,
  controlThread: true,
  only: null,
  keep: false,
};

/** The version inside npm test: every row, small. */
export const QUICK: Omit<CampaignOptions, 'out' | 'log'> = {
  kills: 1,
  killMaxMs: 2500,
  requests: 400,
  estopTrials: 2,
  forceEpisodes: 2,
  soakEpisodes: 0,
  seed: 12,
  strictTicks: false,
  loadConcurrency: 4,
  trainer: true,
  controlThread: false,
  only: null,
  keep: false,
};

export async function runCampaign(o: CampaignOptions): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), 'campaign-'));
  const want = (r: RowName): boolean => (o.only ? o.only.includes(r) : r !== 'soak' || o.soakEpisodes > 0);
  const rows: Row[] = [];
  const run = async (name: RowName, f: () => Promise<Row>): Promise<void> => {
    if (!want(name)) return;
    o.log(`${name}...`);
    const r = await f();
    o.log(`${name}: ${r.passed}/${r.tried}${r.failures.length ? ` (${r.failures.length} failure(s))` : ''}`);
    rows.push(r);
  };
  try {
    await run('power-loss', () =>
      powerLoss({
        dir: join(work, 'power-loss'),
        kills: o.kills,
        maxMs: o.killMaxMs,
        seed: o.seed,
        trainer: o.trainer,
        log: o.log,
        ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
        ...(o.killMaxMinutes !== undefined ? { maxMinutes: o.killMaxMinutes } : {}),
      }),
    );
    await run('trainer', () => trainerFaults({ dir: join(work, 'trainer'), strictTicks: o.strictTicks, threaded: o.controlThread, log: o.log }));
    await run('sensors', () => sensorFaults({ dir: join(work, 'sensors'), log: o.log }));
    await run('estop', () =>
      estopUnderLoad({
        dir: join(work, 'estop'),
        trials: o.estopTrials,
        seed: o.seed,
        trainer: o.trainer,
        strictTicks: o.strictTicks,
        concurrency: o.loadConcurrency,
        threaded: o.controlThread,
        log: o.log,
      }),
    );
    await run('force', () => forceLimit({ dir: join(work, 'force'), episodes: o.forceEpisodes, log: o.log }));
    await run('bad-input', () => badInput({ dir: join(work, 'bad-input'), requests: o.requests, seed: o.seed, log: o.log }));
    await run('soak', () =>
      soak({
        dir: join(work, 'soak'),
        episodes: o.soakEpisodes || 1000,
        out: o.out,
        log: o.log,
        ...(o.soakRealtime ? { realtime: true } : {}),
        ...(o.soakMaxMinutes ? { maxMinutes: o.soakMaxMinutes } : {}),
      }),
    );
  } finally {
    if (!o.keep) rmSync(work, { recursive: true, force: true });
    else o.log(`work files kept in ${work}`);
  }
  return rows;
}
