/**
 * Learning on the job, wired into a running daemon: the supervised background trainer (child process), the hot-swap
 * of its exports, and the operator view (daemon status `extra.trainer` and `extra.learning`, which also go out on
 * the SSE stream with every status).
 */
import { shadowGate, type ShadowGateConfig } from '../replay/shadow.ts';
import type { DaemonApp } from './daemon-app.ts';
import type { EpisodeSummary, RunningDaemon } from '../daemon/types.ts';
import { SwapManager, type SwapConfig } from '../swap/manager.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/load.ts';
import type { DaemonConfig } from '../config/schema.ts';
import { splitFrom } from '../offline/common.ts';
import { DEFAULT_ONLINE, trainerSettings, type OnlineTrainerConfig } from '../online/trainer.ts';
import { TrainerSupervisor, type SupervisorOptions } from '../online/supervisor.ts';
import { DEFAULT_REWARD_TUNE, LABEL_TUNED_REWARD_VALIDATION, labelTuneRefusal, type RewardExportInfo, type RewardTunerConfig } from '../online/reward-tuner.ts';
import { rewardFromModel } from '../daemon/models.ts';
import { cardPathFor, readCard } from '../policy/card.ts';
import { RewardModel } from '../policy/onnx-model.ts';
import { offerReward } from '../swap/reward.ts';

export interface LearningOptions {
  trainer: OnlineTrainerConfig;
  swap?: Partial<SwapConfig>;
  supervisor?: Omit<SupervisorOptions, 'config'>;
  /** Window K of the learned / ground-truth success rates in the operator view. */
  windowK?: number;
  /** Fine-tuning the reward classifier on operator labels (online/reward-tuner.ts): on when the reward the daemon uses
   *  is a registered model the tuner can feed (labelTuneRefusal: a DAIB card, image and any proprio such as the depth
   *  reward's depth steps); false: off (what a daemon config's `labels.fineTune: false`, the default, gives). */
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
  trainer: {
    state: string;
    crashes: number;
    updates: number;
    losses: unknown;
    meanPredictedReward: number | null;
    updatesPerSec: number | null;
    lastError: string | null;
  };
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
      trainer: {
        state: s.state,
        crashes: s.crashes,
        updates: s.updatesTotal,
        losses: p?.losses ?? null,
        meanPredictedReward: p?.meanPredictedReward ?? null,
        updatesPerSec: p?.updatesPerSec ?? null,
        lastError: s.lastError,
      },
      window: K,
      learnedSuccessRate: learned.length ? learned.filter((e) => e.outcome === 'success').length / learned.length : null,
      gtSuccessRate: gt.length ? gt.filter((e) => e.gtSuccess).length / gt.length : null,
      rewardFalsePositives: both.filter((e) => e.outcome === 'success' && !e.gtSuccess).length,
      rewardFalseNegatives: both.filter((e) => e.outcome === 'failure' && e.gtSuccess).length,
      swaps: {
        swaps: swaps.stats.swaps,
        rejected: swaps.stats.rejected,
        flagged: swaps.stats.flagged,
        rollbacks: swaps.stats.rollbacks,
        lastLiveMs: swaps.stats.lastLiveMs,
        lastRejection: swaps.stats.lastRejection,
      },
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
    void swaps.offer(info.path, { by: 'trainer' }).then(
      (out) => {
        inFlight--;
        void out.live.then(publish);
        publish();
      },
      () => {
        inFlight--;
      },
    );
  });
  // A label-tuned reward version: validated on logged observations against the current reward, then swapped in.
  supervisor.on('rewardExport', (info: RewardExportInfo) => {
    app.log.event({
      kind: 'trainer',
      message: `trainer fine-tuned the reward on ${info.labels} labelled episodes: ${info.version} (loss on its frames ${info.lossBefore.toFixed(3)} -> ${info.lossAfter.toFixed(3)})`,
      data: info,
    });
    inFlight++;
    void (async () => {
      try {
        const candidate = rewardFromModel(await RewardModel.load(info.path));
        const v = await offerReward({
          daemon,
          store: app.log.store,
          event: (e) => app.log.event(e),
          candidate,
          modelId: info.modelId,
          by: 'trainer',
          cfg: LABEL_TUNED_REWARD_VALIDATION,
        });
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

/** The trainer config with reward fine-tuning filled in (see LearningOptions.rewardTune); when the daemon's reward is
 *  one the tuner cannot feed, the event log says why labels will only override its reward. */
export function withRewardTune(app: DaemonApp<RunningDaemon>, o: LearningOptions): OnlineTrainerConfig {
  if (o.rewardTune === false || o.trainer.rewardTune !== undefined) return o.trainer;
  const version = app.daemon.models().reward?.version;
  const m = version ? app.log.store.findModel('reward', version) : null;
  if (!m || !existsSync(m.path)) return o.trainer;
  let why: string | null;
  try {
    why = labelTuneRefusal(readCard(cardPathFor(m.path)), m.path);
  } catch (e) {
    why = (e as Error).message;
  }
  if (why) {
    app.log.event({ kind: 'trainer', message: `operator labels override the reward ${m.version} but do not fine-tune it: ${why}` });
    return o.trainer;
  }
  return { ...o.trainer, rewardTune: { ...DEFAULT_REWARD_TUNE, db: o.trainer.db, rewardPath: m.path, workDir: o.trainer.workDir, ...o.rewardTune } };
}

/** Where learning comes from in a config: the checkpoint (resolved), the prior data if present, or why it is off. */
export interface LearningPlan {
  /** null: learning is off; `note` says why. */
  trainer: OnlineTrainerConfig | null;
  shadowGate: ShadowGateConfig | null;
  /** Whether operator labels also fine-tune the reward (`labels.fineTune`); a label overrides its episode's reward either way. */
  rewardTune: boolean;
  note: string;
}

/**
 * The trainer a daemon config asks for (`learning` in config/daemon.yaml, the flags of `npm start -- --help`): on by
 * default, from `<modelsDir>/iql-offline`, with the offline share from `learning.offlineDb` when that file exists and
 * from practice data alone when it does not. A checkpoint named explicitly that does not exist is a config error; the
 * default one missing (e.g. `--models` pointing at a directory of ONNX files only) turns learning off, saying so.
 */
export function learningPlan(config: DaemonConfig): LearningPlan {
  const l = config.learning;
  const gate = l.shadowGate.episodes > 0 ? { episodes: l.shadowGate.episodes, margin: l.shadowGate.margin } : null;
  const rewardTune = config.labels.fineTune;
  if (!l.enabled) return { trainer: null, shadowGate: null, rewardTune, note: 'learning: off (learning.enabled false / --no-learning)' };
  const ck = l.checkpoint ?? join(config.modelsDir, 'iql-offline');
  if (!existsSync(join(ck, 'latest.json'))) {
    if (l.checkpoint !== null)
      throw new ConfigError(
        'config',
        'learning.checkpoint',
        `${ck}/latest.json does not exist (an offline IQL checkpoint: src/cli/train-offline.ts --checkpoint-dir)`,
      );
    return {
      trainer: null,
      shadowGate: null,
      rewardTune,
      note: `learning: off, no offline checkpoint at ${ck} (set learning.checkpoint, or --no-learning to say so)`,
    };
  }
  const prior = l.offlineDb !== null && existsSync(l.offlineDb) ? l.offlineDb : null;
  const trainer: OnlineTrainerConfig = {
    ...DEFAULT_ONLINE,
    ...trainerSettings(l),
    db: config.db,
    startCheckpoint: ck,
    workDir: l.workDir,
    offlineDb: prior,
    offlineDomains: prior ? splitFrom(undefined).train : [],
  };
  const data = prior
    ? l.onlineFraction >= 1
      ? `practice data alone (learning.onlineFraction 1: the prior data at ${prior} is not loaded)`
      : `prior data ${prior} (${Math.round(100 * (1 - l.onlineFraction))} % of each batch)`
    : `practice data alone (no prior data${l.offlineDb ? ` at ${l.offlineDb}` : ''})`;
  const warm = l.warmupUpdates > 0 ? `, ${l.warmupUpdates} critic-only warm-up updates` : '';
  const ev = l.evidenceGate ? ', exports held on the offline policy until every critic ranks the change above it (evidence gate)' : '';
  const ens = l.critics !== null ? `, ${l.critics} critics (min over ${l.targetCritics ?? 2} targets)` : '';
  const beta = l.temperature !== null ? `, advantage temperature ${l.temperature}` : '';
  const g = gate ? `; shadow swap gate on (${gate.episodes} starts, margin ${gate.margin})` : '';
  const labels = rewardTune ? '; operator labels also fine-tune the reward (labels.fineTune)' : '';
  return {
    trainer,
    shadowGate: gate,
    rewardTune,
    note: `learning: background trainer from ${ck}, ${data}, UTD ${l.utd}${l.utdLateAfter > 0 ? ` (${l.utdLate} past ${l.utdLateAfter} transitions of a connector)` : ''}${ens}${beta}${warm}${ev}${g}${labels}`,
  };
}

/** Starts what learningPlan says on a running daemon (null when learning is off). */
export function learningFromConfig(app: DaemonApp<RunningDaemon>, config: DaemonConfig): { learning: Learning | null; note: string } {
  const plan = learningPlan(config);
  if (!plan.trainer) return { learning: null, note: plan.note };
  const gate = plan.shadowGate;
  return {
    learning: startLearning(app, {
      trainer: plan.trainer,
      ...(plan.rewardTune ? {} : { rewardTune: false }),
      ...(gate ? { swap: { shadow: (o) => shadowGate({ ...o, cfg: gate }) } } : {}),
    }),
    note: plan.note,
  };
}
