/**
 * The daemon's models: adapters from the checked ONNX models (src/policy/onnx-model.ts) to the loop's small
 * interfaces, and discovery of the models the project ships under models/ (newest version per kind, or the version
 * the store marks active).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCard, cardPathFor, sha256Hex, type ModelCard } from '../policy/card.ts';
import { PolicyModel, RewardModel, type LoadOptions } from '../policy/onnx-model.ts';
import { inputSpecOf, unmetSensors } from '../policy/inputs.ts';
import type { BackendSensors, Vec3 } from '../core/types.ts';
import type { Store } from '../store/index.ts';
import { readFileSync } from 'node:fs';
import type { ResidualPolicy, RewardScorer } from './interfaces.ts';

export function versionOf(card: ModelCard): string {
  return `${card.name}@${card.version}`;
}

/** What the daemon knows of any loaded model: its version, the inputs its card asks for, its file, its release. */
function modelFace(m: PolicyModel | RewardModel): Pick<ResidualPolicy, 'version' | 'input' | 'path' | 'dispose'> {
  return { version: versionOf(m.card), input: inputSpecOf(m.card, m.path), path: m.path, dispose: () => m.dispose() };
}

export function policyFromModel(m: PolicyModel): ResidualPolicy {
  return { ...modelFace(m), run: (image, proprio): Promise<Vec3> => m.run(image, proprio) };
}

export function rewardFromModel(m: RewardModel): RewardScorer {
  return { ...modelFace(m), probability: (image, proprio) => m.probability(image ?? new Float32Array(0), proprio) };
}

/**
 * Two rewards that must agree: an observation is a learned success only when both call it one, so its probability is
 * the smaller of the two. For rewards that fail on different frames (the image reward on plugs a few mm short, the
 * depth-steps reward on a plug resting on the face). Both must read the same image; at most one may take proprio
 * inputs (the one input pipeline builds one vector per observation). The version names both.
 */
export function agreeingRewards(a: RewardScorer, b: RewardScorer): RewardScorer {
  if (JSON.stringify(a.input.image) !== JSON.stringify(b.input.image))
    throw new Error(
      `agreeing rewards ${a.version} and ${b.version}: their image inputs differ (${JSON.stringify(a.input.image)} vs ${JSON.stringify(b.input.image)})`,
    );
  if (a.input.proprio && b.input.proprio) throw new Error(`agreeing rewards ${a.version} and ${b.version}: only one of them may take proprio inputs`);
  const withProprio = b.input.proprio ? b : a;
  return {
    version: `${a.version}&${b.version}`,
    input: { image: a.input.image, proprio: withProprio.input.proprio },
    probability: async (image, proprio) => {
      const [pa, pb] = await Promise.all([
        a.probability(image, a === withProprio ? proprio : undefined),
        b.probability(image, b === withProprio ? proprio : undefined),
      ]);
      return Math.min(pa, pb);
    },
    dispose: async () => {
      await a.dispose?.();
      await b.dispose?.();
    },
  };
}

export interface ShippedModel {
  kind: 'policy' | 'reward';
  path: string;
  card: ModelCard;
}

/** Every ONNX file in `dir` with a readable card of kind policy or reward; unreadable cards are reported, not fatal. */
export function scanModels(dir: string): { models: ShippedModel[]; problems: string[] } {
  const models: ShippedModel[] = [];
  const problems: string[] = [];
  if (!existsSync(dir)) return { models, problems: [`${dir}: no models directory`] };
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.onnx')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  for (const f of files.sort()) {
    try {
      const card = readCard(cardPathFor(f));
      if (card.kind === 'policy' || card.kind === 'reward') models.push({ kind: card.kind, path: f, card });
    } catch (e) {
      problems.push(`${f}: ${(e as Error).message}`);
    }
  }
  return { models, problems };
}

export interface LoadedModels {
  policy: ResidualPolicy | null;
  reward: RewardScorer | null;
  /** Human-readable lines for the operator (what was loaded, what was refused, and why). */
  notes: string[];
  /** Which reward was taken and by which rule (for /status): the store's active one, the first of `rewardPreference` the
   *  robot can feed, or the newest card version; the preferred files passed over, with why. */
  rewardChoice: { file: string | null; rule: PickRule | 'none'; passedOver: string[] };
}

/** How a start-up model was picked (loadStartupModels). */
type PickRule = 'active' | 'preference' | 'newest';

/** Why `sensors` cannot feed this model (null: they can, or none were given); a card it cannot read is left to the load. */
function unfedBy(m: ShippedModel, sensors: BackendSensors | undefined): string | null {
  if (!sensors) return null;
  try {
    return unmetSensors(inputSpecOf(m.card, m.path), sensors);
  } catch {
    return null;
  }
}

/**
 * The config's rewardPreference rule, written once (the daemon's start and the experiments that run what it runs): the
 * first of `preference` (file names in `dir`) shipped there with a reward card that `sensors` can feed, and why each
 * file before it was passed over.
 */
export function preferredReward(
  dir: string,
  preference: readonly string[],
  sensors?: BackendSensors,
  models: ShippedModel[] = scanModels(dir).models,
): { model: ShippedModel | null; passedOver: string[] } {
  const passedOver: string[] = [];
  for (const file of preference) {
    const m = models.find((x) => x.kind === 'reward' && x.path === join(dir, file));
    const why = m ? unfedBy(m, sensors) : 'not in the models directory';
    if (m && !why) return { model: m, passedOver };
    passedOver.push(`${file}: ${why}`);
  }
  return { model: null, passedOver };
}

/** Start-up choices beside the models directory and the store. */
export interface StartupModelOptions {
  /** The robot's sensors: a model they cannot feed (a depth reward without a depth camera) is refused, with why. */
  sensors?: BackendSensors;
  /** Reward files in the models directory, most preferred first (config rewardPreference); absent or []: newest card version. */
  rewardPreference?: readonly string[];
}

/**
 * Picks and loads the policy and reward model to start with. For each kind, in order:
 *  1. the store's active version (an operator's or the trainer's activation) if its file exists and the robot can feed it;
 *  2. rewards only: the first file of `rewardPreference` that exists and the robot can feed, so the preference between
 *     rewards of different names (depth reward over image reward) is declared in the config, not read from card versions
 *     that count each name's retrainings separately;
 *  3. the newest shipped version by card version that the robot can feed.
 * Registers shipped models in the store. A model that fails to load is reported and skipped: the daemon then runs the
 * P-controller alone (or without a learned reward). With `sensors` (the robot's), a model the robot cannot feed is
 * passed over with the reason, said in the notes.
 */
export async function loadStartupModels(dir: string, store: Store | null, o: StartupModelOptions = {}): Promise<LoadedModels> {
  const { sensors, rewardPreference = [] } = o;
  const notes: string[] = [];
  const rewardChoice: LoadedModels['rewardChoice'] = { file: null, rule: 'none', passedOver: [] };
  const { models, problems } = scanModels(dir);
  notes.push(...problems);
  if (store) {
    for (const m of models) {
      const version = versionOf(m.card);
      if (!store.findModel(m.kind, version)) {
        store.registerModel({ kind: m.kind, version, path: m.path, card: m.card, sha256: sha256Hex(readFileSync(m.path)) });
      }
    }
  }
  const unfed = (m: ShippedModel): string | null => unfedBy(m, sensors);
  const pick = (kind: 'policy' | 'reward'): { m: ShippedModel; rule: PickRule } | null => {
    const what = kind === 'reward' ? 'reward model' : 'policy';
    const active = store?.activeModel(kind);
    if (active && existsSync(active.path)) {
      let m = models.find((x) => x.path === active.path) ?? null;
      if (!m) {
        try {
          m = { kind, path: active.path, card: readCard(cardPathFor(active.path)) };
        } catch (e) {
          notes.push(`active ${kind} ${active.version}: ${(e as Error).message}`);
        }
      }
      const why = m && unfed(m);
      if (m && !why) return { m, rule: 'active' };
      if (why) notes.push(`WARNING: active ${what} ${active.version} refused: ${why}; the one the robot can feed instead`);
    }
    if (kind === 'reward') {
      const { model, passedOver } = preferredReward(dir, rewardPreference, sensors, models);
      rewardChoice.passedOver = passedOver;
      for (const p of passedOver) notes.push(`reward model ${p.replace(/: /, ' (rewardPreference) passed over: ')}`);
      if (model) return { m: model, rule: 'preference' };
    }
    const ofKind = models
      .filter((m) => m.kind === kind)
      .sort((a, b) => a.card.version - b.card.version)
      .reverse();
    for (const m of ofKind) {
      const why = unfed(m);
      if (!why) return { m, rule: 'newest' };
      notes.push(`${what} ${versionOf(m.card)} (${m.path}) skipped: ${why}`);
    }
    return null;
  };
  let policy: ResidualPolicy | null = null;
  let reward: RewardScorer | null = null;
  const p = pick('policy')?.m;
  if (p) {
    try {
      policy = policyFromModel(await PolicyModel.load(p.path));
      notes.push(`policy ${policy.version} loaded from ${p.path}`);
    } catch (e) {
      notes.push(`policy ${p.path} refused: ${(e as Error).message}`);
    }
  }
  if (!policy) notes.push('no policy: running the P-controller alone');
  const r = pick('reward');
  if (r) {
    const why = { active: 'the active one in the log', preference: 'first in rewardPreference the robot can feed', newest: 'newest card version' }[r.rule];
    try {
      reward = rewardFromModel(await RewardModel.load(r.m.path));
      notes.push(`reward model ${reward.version} loaded from ${r.m.path} (${why})`);
      rewardChoice.file = r.m.path;
      rewardChoice.rule = r.rule;
    } catch (e) {
      notes.push(`reward model ${r.m.path} refused: ${(e as Error).message}`);
    }
  }
  if (!reward) notes.push('no reward model: episodes are judged by simulator ground truth where available, transitions carry no learned reward');
  return { policy, reward, notes, rewardChoice };
}

/** Loads a registered model by id for activation through the API (off the control path). */
export async function loadPolicyFile(path: string, opts: LoadOptions = {}): Promise<ResidualPolicy> {
  return policyFromModel(await PolicyModel.load(path, opts));
}
