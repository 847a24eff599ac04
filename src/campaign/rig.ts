/** A daemon for the in-process rows: the real simulated cell, a real SQLite file, the real app (API on port 0). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemonApp, type DaemonApp, type DaemonAppOptions } from '../app/daemon-app.ts';
import { DaemonThread } from '../daemon/thread.ts';
import type { RunningDaemon } from '../daemon/types.ts';
import { loadCalibration, loadDaemonConfig, type ConfigOverrides } from '../config/load.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { SimBackend, simCellOptions } from '../robot/sim-backend.ts';
import type { Vec3 } from '../core/types.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig } from '../online/trainer.ts';
import { ROOT } from './proc.ts';

export const CAMPAIGN_TOKEN = 'campaign-token-0123456789abcdef';

export interface CampaignRig {
  app: DaemonApp;
  sim: SimBackend;
  config: DaemonConfig;
  calibration: Calibration;
  db: string;
  /** Every command that reached the simulated robot: wall time (performance.now) and the move. */
  commands: Array<{ t: number; delta: Vec3 }>;
  close(): Promise<void>;
}

export interface RigOptions extends Partial<Pick<DaemonAppOptions, 'policy' | 'reward' | 'listen' | 'startLoop' | 'loadPolicy'>> {
  dir: string;
  overrides?: ConfigOverrides;
  config?: (c: DaemonConfig) => void;
  calibration?: (c: Calibration) => void;
  /** Models directory (default: a directory with no models, so the test says which policy drives). */
  modelsDir?: string;
}

export async function campaignRig(o: RigOptions): Promise<CampaignRig> {
  mkdirSync(o.dir, { recursive: true });
  const db = join(o.dir, 'log.db');
  const config = loadDaemonConfig(join(ROOT, 'config/daemon.yaml'), {
    port: 0,
    db,
    priority: null,
    modelsDir: o.modelsDir ?? join(o.dir, 'no-models'),
    ...o.overrides,
  });
  config.backend.sim.nuisance = false;
  o.config?.(config);
  const calibration = loadCalibration(join(ROOT, 'calibration'));
  o.calibration?.(calibration);
  const sim = await SimBackend.create({ connector: config.backend.sim.connector, cell: simCellOptions(config) });
  const commands: Array<{ t: number; delta: Vec3 }> = [];
  // Every motion command is timed where it reaches the robot (the e-stop latency is measured to the last of them).
  const command = sim.command.bind(sim);
  sim.command = (delta: Vec3): void => {
    commands.push({ t: performance.now(), delta: [...delta] as Vec3 });
    if (commands.length > 200_000) commands.splice(0, 100_000);
    command(delta);
  };
  const app = await startDaemonApp({
    config,
    calibration,
    token: CAMPAIGN_TOKEN,
    backend: sim,
    listen: o.listen ?? true,
    startLoop: o.startLoop ?? true,
    ...(o.policy !== undefined ? { policy: o.policy } : {}),
    ...(o.reward !== undefined ? { reward: o.reward } : {}),
    ...(o.loadPolicy ? { loadPolicy: o.loadPolicy } : {}),
  });
  return {
    app,
    sim,
    config,
    calibration,
    db,
    commands,
    close: async () => {
      await app.close();
      sim.dispose();
    },
  };
}

/** The trainer a campaign row runs beside its rig: from the shipped offline checkpoint, practice data only. */
export function rigTrainer(r: Pick<CampaignRig, 'db'>, dir: string, o: Partial<OnlineTrainerConfig> = {}): OnlineTrainerConfig {
  return {
    ...DEFAULT_ONLINE,
    db: r.db,
    startCheckpoint: join(ROOT, 'models/iql-offline'),
    offlineDb: null,
    offlineDomains: [],
    workDir: join(dir, 'trainer'),
    ...o,
  };
}

/** The product's daemon as `npm start` runs it: the control loop and the simulated cell in their own thread. */
export interface ThreadedRig {
  app: DaemonApp<RunningDaemon>;
  daemon: DaemonThread;
  config: DaemonConfig;
  db: string;
  /** Everything the control thread logged so far is committed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The control thread at 10 Hz with the shipped models (modelsDir), the API and the e-stop listener on free loopback
 * ports, the configured priorities (process nice -5, the control thread's nice and real-time class): not the in-process
 * rig's `priority: null`, since niced (+5) under load 15 even the real-time control thread missed ticks.
 */
export async function threadedRig(o: { dir: string; overrides?: ConfigOverrides; modelsDir?: string }): Promise<ThreadedRig> {
  mkdirSync(o.dir, { recursive: true });
  const db = join(o.dir, 'log.db');
  const config = loadDaemonConfig(join(ROOT, 'config/daemon.yaml'), {
    port: 0,
    db,
    modelsDir: o.modelsDir ?? join(ROOT, 'models'),
    realtime: true,
    ...o.overrides,
    controlThread: true,
  });
  config.backend.sim.nuisance = false;
  const app = await startDaemonApp({ config, calibration: loadCalibration(join(ROOT, 'calibration')), token: CAMPAIGN_TOKEN });
  const daemon = app.daemon;
  if (!(daemon instanceof DaemonThread)) {
    await app.close();
    throw new Error('the campaign asked for the control thread and got an in-process loop');
  }
  return { app, daemon, config, db, flush: () => daemon.flushLog(), close: () => app.close() };
}
