/**
 * Learning on the job, wired into a running daemon: the supervised background trainer (child process), the hot-swap
 * of its exports, and the operator view (daemon status `extra.trainer` and `extra.learning`, which also go out on
 * the SSE stream with every status).
 */
import { shadowGate } from '../replay/shadow.ts';
import type { DaemonApp } from './daemon-app.ts';
import type { EpisodeSummary, RunningDaemon } from '../daemon/types.ts';
import { SwapManager, type SwapConfig } from '../swap/manager.ts';
import { existsSync } from 'node:fs';
import { splitFrom } from '../offline/common.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig } from '../online/trainer.ts';
import { TrainerSupervisor, type SupervisorOptions } from '../online/supervisor.ts';
import { DEFAULT_REWARD_TUNE, LABEL_TUNED_REWARD_VALIDATION, type RewardExportInfo, type RewardTunerConfig } from '../online/reward-tuner.ts';
import { rewardFromModel } from '../daemon/models.ts';
import { RewardModel } from '../policy/onnx-model.ts';
import { offerReward } from '../swap/reward.ts';

export interface LearningOptions {
  trainer: OnlineTrainerConfig;
  swap?: Partial<SwapConfig>;
  supervisor?: Omit<SupervisorOptions, 'config'>;
  /** Window K of the learned / ground-truth success rates in the operator view. */
  windowK?: number;
  /** Fine-tuning the reward classifier on operator labels (online/reward-tuner.ts): on by default when the reward the
   *  daemon uses is a registered model with a DAIB card; false: off. */
  rewardTune?: Partial<RewardTunerConfig> | false;
}

export interface Learning {
  supervisor: TrainerSupervisor;
  swaps: SwapManager;
  /** The operator view section (also in status.extra.learning). */
  view(): LearningView;
  /** True while an export is being loaded/validated (before its swap is requested). */
  busy(): boolean;
  close(): Promise<void>;
}

export interface LearningView {
  policyVersion: string | null;
  trainer: { state: string; crashes: number; updates: number; losses: unknown; meanPredictedReward: number | null; updatesPerSec: number | null; lastError: string | null };
  window: number;
  /** Over the last K judged episodes: learned (reward classifier) vs simulator ground truth. */
  learnedSuccessRate: number | null;
  gtSuccessRate: number | null;
  /** Episodes judged successful by the learned reward that the ground truth says failed (false positives). */
  rewardFalsePositives: number;
  rewardFalseNegatives: number;
  swaps: { swaps: number; rejected: number; flagged: number; rollbacks: number; lastLiveMs: number | null; lastRejection: string | null };
}

export function startLearning(app: DaemonApp<RunningDaemon>, o: LearningOptions): Learning {
  const daemon = app.daemon;
  // Same validation as REST activation (the app's, from the calibration's residual bound) unless told otherwise.
  const swaps = new SwapManager(daemon, app.log.store, app.log, { ...o.swap, validation: { ...app.swapValidation, ...o.swap?.validation } });
  const supervisor = new TrainerSupervisor({ config: withRewardTune(app, o), ...o.supervisor });
  const K = o.windowK ?? 20;
  const recent: EpisodeSummary[] = [];
  const onEpisode = (e: EpisodeSummary): void => {
    if (e.outcome !== 'success' && e.outcome !== 'failure') return;
    recent.push(e);
    if (recent.length > K) recent.shift();
    publish();
  };
  const view = (): LearningView => {
    const s = supervisor.status();
    const p = s.progress;
    const learned = recent.filter((e) => e.learnedSuccessProb !== null);
    const gt = recent.filter((e) => e.gtSuccess !== null);
    const both = recent.filter((e) => e.learnedSuccessProb !== null && e.gtSuccess !== null);
    return {
      policyVersion: daemon.policyVersion,
      trainer: { state: s.state, crashes: s.crashes, updates: s.updatesTotal, losses: p?.losses ?? null, meanPredictedReward: p?.meanPredictedReward ?? null, updatesPerSec: p?.updatesPerSec ?? null, lastError: s.lastError },
      window: K,
      learnedSuccessRate: learned.length ? learned.filter((e) => e.outcome === 'success').length / learned.length : null,
      gtSuccessRate: gt.length ? gt.filter((e) => e.gtSuccess).length / gt.length : null,
      rewardFalsePositives: both.filter((e) => e.outcome === 'success' && !e.gtSuccess).length,
      rewardFalseNegatives: both.filter((e) => e.outcome === 'failure' && e.gtSuccess).length,
      swaps: { swaps: swaps.stats.swaps, rejected: swaps.stats.rejected, flagged: swaps.stats.flagged, rollbacks: swaps.stats.rollbacks, lastLiveMs: swaps.stats.lastLiveMs, lastRejection: swaps.stats.lastRejection },
    };
  };
  const publish = (): void => {
    daemon.setStatusExtra('trainer', supervisor.status());
    daemon.setStatusExtra('learning', view());
  };
  supervisor.on('progress', publish);
  supervisor.on('crash', (c: { delay: number; error: string | null }) => {
    app.log.event({ kind: 'trainer', message: `trainer crashed (${c.error ?? 'unknown'}); restart in ${c.delay} ms` });
    publish();
  });
  let inFlight = 0;
  supervisor.on('export', (info: { path: string; version: string }) => {
    app.log.event({ kind: 'trainer', message: `trainer exported ${info.version}`, data: info });
    inFlight++;
    void swaps.offer(info.path, { by: 'trainer' }).then((out) => {
      inFlight--;
      void out.live.then(publish);
      publish();
    }, () => {
      inFlight--;
    });
  });
  // A label-tuned reward version: validated on logged observations against the current reward, then swapped in.
  supervisor.on('rewardExport', (info: RewardExportInfo) => {
    app.log.event({ kind: 'trainer', message: `trainer fine-tuned the reward on ${info.labels} labelled episodes: ${info.version} (loss on its frames ${info.lossBefore.toFixed(3)} -> ${info.lossAfter.toFixed(3)})`, data: info });
    inFlight++;
    void (async () => {
      try {
        const candidate = rewardFromModel(await RewardModel.load(info.path));
        const v = await offerReward({ daemon, store: app.log.store, event: (e) => app.log.event(e), candidate, modelId: info.modelId, by: 'trainer', cfg: LABEL_TUNED_REWARD_VALIDATION });
        if (!v.ok) await candidate.dispose?.();
      } catch (e) {
        app.log.event({ kind: 'swap_rejected', message: `reward ${info.version} does not load: ${(e as Error).message}` });
      } finally {
        inFlight--;
        publish();
      }
    })();
  });
  daemon.on('episode', onEpisode);
  supervisor.start();
  publish();
  return {
    supervisor,
    swaps,
    view,
    busy: () => inFlight > 0,
    close: async () => {
      daemon.off('episode', onEpisode);
      swaps.close();
      await supervisor.stop();
      publish();
    },
  };
}

/** The trainer config with reward fine-tuning filled in (see LearningOptions.rewardTune). */
function withRewardTune(app: DaemonApp<RunningDaemon>, o: LearningOptions): OnlineTrainerConfig {
  if (o.rewardTune === false || o.trainer.rewardTune !== undefined) return o.trainer;
  const version = app.daemon.models().reward?.version;
  const m = version ? app.log.store.findModel('reward', version) : null;
  const daib = (m?.card as { hyperparameters?: { daib?: unknown } } | undefined)?.hyperparameters?.daib;
  if (!m || !daib || !existsSync(m.path)) return o.trainer;
  return { ...o.trainer, rewardTune: { ...DEFAULT_REWARD_TUNE, db: o.trainer.db, rewardPath: m.path, workDir: o.trainer.workDir, ...o.rewardTune } };
}

/**
 * The daemon's main job starts learning when $TRAINER_CHECKPOINT names an offline IQL checkpoint; optional
 * $TRAINER_OFFLINE_DB (default data/prior.db if present), $TRAINER_WORK_DIR (default data/runs/trainer),
 * $TRAINER_ONLINE_FRACTION, $TRAINER_UTD. Returns null when not asked.
 */
export function learningFromEnv(app: DaemonApp<RunningDaemon>, env: NodeJS.ProcessEnv): Learning | null {
  const ck = env.TRAINER_CHECKPOINT;
  if (!ck) return null;
  const offlineDb = env.TRAINER_OFFLINE_DB ?? 'data/prior.db';
  const db = app.log.store.file;
  const gate = shadowGateFromEnv(env.TRAINER_SHADOW_GATE);
  return startLearning(app, {
    ...(gate ? { swap: { shadow: (o) => shadowGate({ ...o, cfg: gate }) } } : {}),
    trainer: {
      ...DEFAULT_ONLINE, db, startCheckpoint: ck, offlineDb: existsSync(offlineDb) ? offlineDb : null,
      offlineDomains: existsSync(offlineDb) ? splitFrom(undefined).train : [], workDir: env.TRAINER_WORK_DIR ?? 'data/runs/trainer',
      onlineFraction: env.TRAINER_ONLINE_FRACTION ? Number(env.TRAINER_ONLINE_FRACTION) : DEFAULT_ONLINE.onlineFraction,
      utd: env.TRAINER_UTD ? Number(env.TRAINER_UTD) : DEFAULT_ONLINE.utd,
    },
  });
}

/** TRAINER_SHADOW_GATE=EPISODES:MARGIN (e.g. 10:0.1) turns on the shadow swap gate (src/replay/shadow.ts); unset: off. */
export function shadowGateFromEnv(v: string | undefined): { episodes: number; margin: number } | null {
  if (v === undefined || v === '') return null;
  const m = /^(\d+):([0-9.]+)$/.exec(v.trim());
  const episodes = m ? Number(m[1]) : NaN;
  const margin = m ? Number(m[2]) : NaN;
  if (!(Number.isInteger(episodes) && episodes >= 1 && margin >= 0 && margin <= 1)) {
    throw new Error(`TRAINER_SHADOW_GATE: '${v}' is not EPISODES:MARGIN (episodes >= 1, margin in [0, 1]), e.g. 10:0.1`);
  }
  return { episodes, margin };
}
