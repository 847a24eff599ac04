/**
 * The label experiment (issue 13): how often the learned reward calls a failed episode a success (its false-positive
 * rate against the simulator's ground truth), without labels and with the daemon asking a simulated operator for a
 * small budget of labels, through the real daemon path (simulated cell, SQLite log, the shipped policy and reward).
 *
 * Per connector: practise `episodes` scenario-II episodes with a fixed x* error (as src/experiment/online.ts). The
 * daemon asks for labels by its own rule (src/daemon/labels.ts, budget `budget`); the simulated operator answers each
 * request with the ground truth, over the same path as REST (store.labelEpisode + daemon.noteLabel). Learning then sees
 * an episode's outcome as its label where there is one (data/labels.ts), else as the learned reward.
 * Reported per connector and overall: episodes, ground-truth failures, false positives (learned success, truly failed)
 * and false negatives without labels, with the requested labels, and, for comparison, with the same number of labels
 * spent on episodes drawn at random (expected value over 1,000 draws). No trainer runs: the policy and reward stay
 * fixed, so the three columns describe the same episodes.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadCalibration, loadDaemonConfig } from '../config/load.ts';
import { startDaemonApp } from '../app/daemon-app.ts';
import { goalErrorVec } from '../core/goal-error.ts';
import { loadPolicyFile, rewardFromModel } from '../daemon/models.ts';
import type { EpisodeSummary, LabelRequest } from '../daemon/types.ts';
import { RewardModel } from '../policy/onnx-model.ts';
import { SimBackend, simCellOptions } from '../robot/sim-backend.ts';
import { Rng } from '../util/rng.ts';
import { DEFAULT_REWARD_TUNE, LABEL_TUNED_REWARD_VALIDATION, RewardTuner } from '../online/reward-tuner.ts';
import { offerReward } from '../swap/reward.ts';

export interface LabelExperimentOptions {
  connectors: string[];
  episodes: number;
  budget: number;
  offsetMm: number;
  seed: number;
  episodeSteps: number;
  explorationNoise: number;
  policyPath: string;
  rewardPath: string;
  outDir: string;
  configFile: string;
  calibrationDir: string;
  /** Also fine-tune the reward on the labels as they come (online/reward-tuner.ts, every `tuneEvery` labels) and swap
   *  each version in through the reward validation; 0 = off. Runs in this process between episodes (the loop free-runs). */
  tuneEvery: number;
  /** Share of judged episodes the simulated operator also labels unasked (spot checks, drawn at random): labels of
   *  both outcomes for the fine-tune, which the requests alone rarely give. 0 = none. Not counted as requested labels. */
  spotLabels: number;
  onProgress?: (line: string) => void;
}

export interface Counts {
  falsePositives: number;
  falseNegatives: number;
}

export interface LabelRow {
  connector: string;
  episodes: number;
  gtFailures: number;
  gtSuccesses: number;
  requested: number;
  reasons: Record<string, number>;
  /** Of the requests, how many were about an episode the learned reward had wrong. */
  requestsOnErrors: number;
  noLabels: Counts;
  withRequestedLabels: Counts;
  /** The same number of labels on random episodes (expected counts). */
  withRandomLabels: Counts;
  /** Episodes the operator labelled unasked (spotLabels). */
  spotLabelled: number;
  /** Reward versions fine-tuned on the labels and swapped in during the run (tuneEvery > 0). */
  rewardVersions: string[];
  /** Every judged episode in order: the learned outcome, the ground truth, the reward version that judged it, and
   *  whether it was asked for (so runs with and without fine-tuning compare episode by episode). */
  perEpisode: Array<{ index: number; learned: boolean; gt: boolean; reward: string | null; asked: boolean; spot: boolean }>;
  seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** False positives / negatives of episode outcomes as learning sees them: the label where there is one, else learned. */
export function countErrors(eps: readonly EpisodeSummary[], labelled: ReadonlySet<number>): Counts {
  let fp = 0;
  let fn = 0;
  for (const e of eps) {
    if (e.gtSuccess === null || labelled.has(e.id)) continue; // a label from the ground truth is right
    const learned = e.outcome === 'success';
    if (learned && !e.gtSuccess) fp++;
    if (!learned && e.gtSuccess) fn++;
  }
  return { falsePositives: fp, falseNegatives: fn };
}

export async function runLabelConnector(connector: string, o: LabelExperimentOptions): Promise<LabelRow> {
  const t0 = performance.now();
  const dir = join(o.outDir, connector);
  mkdirSync(dir, { recursive: true });
  const config = loadDaemonConfig(o.configFile, {
    port: 0,
    db: join(dir, `daemon-${Date.now()}.db`),
    realtime: false,
    episodeSteps: o.episodeSteps,
    priority: null,
  });
  config.backend.sim.connector = connector;
  config.practice.explorationNoise = o.explorationNoise;
  config.practice.seed = o.seed;
  config.labels.budget = o.budget;
  const calibration = loadCalibration(o.calibrationDir);
  calibration.socket.offset = goalErrorVec(o.offsetMm);
  const backend = await SimBackend.create({ connector, cell: simCellOptions(config) });
  const policy = await loadPolicyFile(o.policyPath);
  const reward = rewardFromModel(await RewardModel.load(o.rewardPath));
  const app = await startDaemonApp({ config, calibration, token: null, backend, policy, reward, listen: false, startLoop: true });
  const eps: EpisodeSummary[] = [];
  const judgedBy = new Map<number, string | null>();
  const requests: LabelRequest[] = [];
  const spot = new Set<number>();
  const versions: string[] = [];
  const tuner =
    o.tuneEvery > 0
      ? new RewardTuner({ ...DEFAULT_REWARD_TUNE, db: config.db, rewardPath: o.rewardPath, workDir: dir, minNewLabels: o.tuneEvery, seed: o.seed })
      : null;
  await tuner?.init();
  let tuning: Promise<void> = Promise.resolve();
  try {
    const d = app.daemon;
    d.on('episode', (e) => {
      eps.push(e);
      judgedBy.set(e.id, d.models().reward?.version ?? null);
    });
    // The simulated operator: looks at the cell (ground truth of the episode just closed) and labels over the REST path.
    const operatorLabels = (episodeId: number): void => {
      const gt = eps.find((e) => e.id === episodeId)?.gtSuccess;
      if (gt == null) return;
      app.log.store.labelEpisode({ episodeId, success: gt, by: 'simulated-operator', note: 'ground truth' });
      d.noteLabel(episodeId, gt, 'simulated-operator', 'ground truth');
      if (!tuner) return;
      const tuneNow = async (): Promise<void> => {
        await app.log.flush(); // the labelled episode's rows are committed before they are read
        if (!(tuner.poll() > 0 && tuner.due)) return;
        const info = tuner.tune();
        if (!info) {
          o.onProgress?.(`[${connector}] no reward version yet: ${tuner.lastSkip}`);
          return;
        }
        const candidate = rewardFromModel(await RewardModel.load(info.path));
        const v = await offerReward({
          daemon: d,
          store: app.log.store,
          event: (e) => app.log.event(e),
          candidate,
          modelId: info.modelId,
          by: 'label-experiment',
          cfg: LABEL_TUNED_REWARD_VALIDATION,
        });
        if (v.ok) versions.push(info.version);
        else await candidate.dispose?.();
        o.onProgress?.(`[${connector}] reward ${info.version} on ${info.labels} labels: ${v.ok ? 'swapped in' : 'refused'} (${v.reason})`);
      };
      tuning = tuning.then(async () => {
        try {
          await tuneNow();
        } catch (e) {
          o.onProgress?.(`[${connector}] reward fine-tune failed: ${(e as Error).message}`);
        }
      });
    };
    d.on('labelRequest', (q) => {
      requests.push(q);
      operatorLabels(q.episodeId);
    });
    const spotRng = new Rng(o.seed + 11);
    d.on('episode', (e) => {
      if (o.spotLabels <= 0 || (e.outcome !== 'success' && e.outcome !== 'failure') || !spotRng.bernoulli(o.spotLabels)) return;
      spot.add(e.id);
      setImmediate(() => operatorLabels(e.id)); // after the daemon has finished closing the episode
    });
    const r = d.startPractice({ count: o.episodes, scenario: 'II', kind: 'practice', seed: o.seed * 100000 });
    if (!r.ok) throw new Error(`practice refused: ${r.reason}`);
    let last = 0;
    while (d.status().practice !== null || d.currentState !== 'idle') {
      if (d.currentState === 'estopped') throw new Error('daemon e-stopped during the experiment');
      if (eps.length >= last + 20) {
        last = eps.length;
        o.onProgress?.(`[${connector}] ${eps.length}/${o.episodes} episodes, ${requests.length} label requests`);
      }
      await sleep(50);
    }
    await tuning;
  } finally {
    tuner?.close();
    await app.close();
    backend.dispose();
  }
  const judged = eps.filter((e) => (e.outcome === 'success' || e.outcome === 'failure') && e.gtSuccess !== null);
  const asked = new Set(requests.map((q) => q.episodeId));
  // Random labels: the same number, on episodes drawn uniformly (expected counts over many draws).
  const rng = new Rng(o.seed + 7);
  const draws = 1000;
  const acc = { falsePositives: 0, falseNegatives: 0 };
  for (let k = 0; k < draws; k++) {
    const ids = judged.map((e) => e.id);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    const c = countErrors(judged, new Set(ids.slice(0, asked.size)));
    acc.falsePositives += c.falsePositives / draws;
    acc.falseNegatives += c.falseNegatives / draws;
  }
  const reasons: Record<string, number> = {};
  for (const q of requests) for (const why of q.reasons) reasons[why] = (reasons[why] ?? 0) + 1;
  return {
    connector,
    episodes: judged.length,
    gtFailures: judged.filter((e) => !e.gtSuccess).length,
    gtSuccesses: judged.filter((e) => e.gtSuccess).length,
    requested: asked.size,
    reasons,
    requestsOnErrors: judged.filter((e) => asked.has(e.id) && (e.outcome === 'success') !== e.gtSuccess).length,
    noLabels: countErrors(judged, new Set()),
    withRequestedLabels: countErrors(judged, asked),
    withRandomLabels: acc,
    spotLabelled: spot.size,
    rewardVersions: versions,
    perEpisode: judged.map((e) => ({
      index: e.index,
      learned: e.outcome === 'success',
      gt: e.gtSuccess === true,
      reward: judgedBy.get(e.id) ?? null,
      asked: asked.has(e.id),
      spot: spot.has(e.id),
    })),
    seconds: (performance.now() - t0) / 1000,
  };
}

const pct = (n: number, d: number): string => (d > 0 ? `${((100 * n) / d).toFixed(1)} %` : '-');

export function labelTable(rows: LabelRow[]): string {
  const total: LabelRow = rows.reduce<LabelRow>(
    (t, r) => ({
      ...t,
      episodes: t.episodes + r.episodes,
      gtFailures: t.gtFailures + r.gtFailures,
      gtSuccesses: t.gtSuccesses + r.gtSuccesses,
      requested: t.requested + r.requested,
      spotLabelled: t.spotLabelled + r.spotLabelled,
      requestsOnErrors: t.requestsOnErrors + r.requestsOnErrors,
      noLabels: {
        falsePositives: t.noLabels.falsePositives + r.noLabels.falsePositives,
        falseNegatives: t.noLabels.falseNegatives + r.noLabels.falseNegatives,
      },
      withRequestedLabels: {
        falsePositives: t.withRequestedLabels.falsePositives + r.withRequestedLabels.falsePositives,
        falseNegatives: t.withRequestedLabels.falseNegatives + r.withRequestedLabels.falseNegatives,
      },
      withRandomLabels: {
        falsePositives: t.withRandomLabels.falsePositives + r.withRandomLabels.falsePositives,
        falseNegatives: t.withRandomLabels.falseNegatives + r.withRandomLabels.falseNegatives,
      },
      seconds: t.seconds + r.seconds,
    }),
    {
      connector: 'all',
      spotLabelled: 0,
      rewardVersions: [],
      perEpisode: [],
      episodes: 0,
      gtFailures: 0,
      gtSuccesses: 0,
      requested: 0,
      reasons: {},
      requestsOnErrors: 0,
      noLabels: { falsePositives: 0, falseNegatives: 0 },
      withRequestedLabels: { falsePositives: 0, falseNegatives: 0 },
      withRandomLabels: { falsePositives: 0, falseNegatives: 0 },
      seconds: 0,
    },
  );
  const line = (r: LabelRow): string =>
    `| ${r.connector} | ${r.episodes} | ${r.gtFailures} | ${r.requested} (${pct(r.requested, r.episodes)}; ${r.requestsOnErrors} on errors)${r.spotLabelled ? `; +${r.spotLabelled} unasked` : ''} | ` +
    `${r.noLabels.falsePositives} (${pct(r.noLabels.falsePositives, r.gtFailures)}) | ${r.withRequestedLabels.falsePositives} (${pct(r.withRequestedLabels.falsePositives, r.gtFailures)}) | ` +
    `${r.withRandomLabels.falsePositives.toFixed(1)} (${pct(r.withRandomLabels.falsePositives, r.gtFailures)}) | ${r.noLabels.falseNegatives} / ${r.withRequestedLabels.falseNegatives} / ${r.withRandomLabels.falseNegatives.toFixed(1)} |`;
  return [
    '| connector | episodes | truly failed | labels asked (share; on errors) | false positives, no labels (FP rate) | with requested labels | with as many random labels | false negatives: none / requested / random |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(line),
    ...(rows.length > 1 ? [line(total)] : []),
  ].join('\n');
}
